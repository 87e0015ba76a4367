import type { Benchmark } from './harness.js';

/** A benchmark as `pnpm bench` knows it before loading it. */
export interface RegistryEntry {
  /** The id to run it alone: `pnpm bench <id>`. */
  readonly id: string;
  /**
   * Fresh processes to measure it in; with more than one, the result with
   * the median `ratio` is reported. For figures that vary more from one
   * process to the next (heap layout, JIT decisions) than within one.
   * @default 1
   */
  readonly processes?: number;
  /** Imports the benchmark's module, only in the process that runs it. */
  load(): Promise<Benchmark>;
}

/** Every benchmark, in the order of the table. */
export const registry: readonly RegistryEntry[] = [
  { id: 'hit-path', processes: 3, load: async () => (await import('./hit-path.js')).hitPath },
  {
    id: 'hit-path-instrumented',
    processes: 3,
    load: async () => (await import('./hit-path-instrumented.js')).hitPathInstrumented,
  },
  {
    id: 'shared-store-hit-path',
    processes: 3,
    load: async () => (await import('./shared-store-hit-path.js')).sharedStoreHitPath,
  },
  { id: 'coalescing', load: async () => (await import('./coalescing.js')).coalescing },
  {
    id: 'shared-store-coalescing',
    load: async () => (await import('./shared-store-coalescing.js')).sharedStoreCoalescing,
  },
  { id: 'wake-latency', load: async () => (await import('./wake-latency.js')).wakeLatency },
  { id: 'steady-load', load: async () => (await import('./steady-load.js')).steadyLoad },
  { id: 'middleware-throughput', load: async () => (await import('./middleware-throughput.js')).middlewareThroughput },
  { id: 'mass-expiry', load: async () => (await import('./mass-expiry.js')).massExpiry },
  { id: 'heap-per-key', load: async () => (await import('./heap-per-key.js')).heapPerKey },
  { id: 'sweep', load: async () => (await import('./sweep.js')).sweep },
  { id: 'client-throughput', load: async () => (await import('./client-throughput.js')).clientThroughput },
  { id: 'dpop-cost', load: async () => (await import('./dpop-cost.js')).dpopCost },
];
