import type { TokenEndpoint } from '@refreshkit/core';

/** What one benchmark reports. */
export interface BenchResult {
  /** Benchmark number and name, as in the table. */
  readonly name: string;
  /** The target, in words. */
  readonly target: string;
  /** The measured figure, in words (ratios and counts, not absolute times). */
  readonly figure: string;
  /** Whether the figure meets the target. */
  readonly pass: boolean;
  /** Anything a reader needs to interpret the figure. */
  readonly notes?: string;
}

/** A benchmark module. */
export interface Benchmark {
  readonly id: string;
  run(): Promise<BenchResult>;
}

/** The `p`th percentile of `samples` (sorted copy). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` `iterations` times sequentially (awaiting each) and returns ns per call. */
export async function nsPerCall(iterations: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  return Number(process.hrtime.bigint() - start) / iterations;
}

/** An endpoint for benchmarks that must never reach one (hits, memory). */
export const unusedEndpoint: TokenEndpoint = {
  refresh: () => Promise.reject(new Error('the benchmark should not refresh')),
  clientCredentials: () => Promise.reject(new Error('the benchmark should not refresh')),
};
