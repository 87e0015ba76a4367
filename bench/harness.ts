import type { TokenEndpoint } from '@refreshkit/core';

/** What one benchmark reports. */
export interface BenchResult {
  /** Benchmark number and name, as in the table. */
  readonly name: string;
  /** The target, in words. */
  readonly target: string;
  /** The measured figure, in words (ratios and counts, not absolute times). */
  readonly figure: string;
  /** The ratio that decides `pass`, where the target is a ratio: it orders results from several processes. */
  readonly ratio?: number;
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

/** The median of `values`: the middle one, or the mean of the middle two. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Times `loop`, which makes `iterations` sequential calls, and returns ns per
 * call. Each measured function brings its own loop, so the call in it sees
 * one target, as a real caller's call site does: a loop shared by several
 * functions is optimised for the first one it runs and penalises the rest.
 */
export async function nsPerCall(iterations: number, loop: (iterations: number) => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await loop(iterations);
  return Number(process.hrtime.bigint() - start) / iterations;
}

/** An endpoint for benchmarks that must never reach one (hits, memory). */
export const unusedEndpoint: TokenEndpoint = {
  refresh: () => Promise.reject(new Error('the benchmark should not refresh')),
  clientCredentials: () => Promise.reject(new Error('the benchmark should not refresh')),
};
