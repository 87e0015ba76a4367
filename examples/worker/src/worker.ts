import type { TokenCache } from '@refreshkit/core';

/** Options of {@link runJobs}. */
export interface WorkerOptions {
  /** A cache created with `grant: 'client_credentials'`. */
  readonly cache: TokenCache;
  /** The service identity whose token the jobs use (the cache key). */
  readonly identity: string;
  /** URL each job calls. */
  readonly url: string;
  /** Jobs to run. */
  readonly jobs: number;
  /** Pause between jobs, in ms. */
  readonly intervalMs: number;
  /** Stops the loop early. */
  readonly signal?: AbortSignal;
  /** Called after each job, e.g. to show progress. */
  readonly onJob?: (result: JobResult) => void;
}

/** What one job saw. */
export interface JobResult {
  readonly job: number;
  readonly status: number;
}

/**
 * A job loop with no framework: each job calls the API with the service
 * identity's client-credentials token, which the cache renews before it
 * expires, so no job waits on the token endpoint after the first.
 */
export async function runJobs(options: WorkerOptions): Promise<JobResult[]> {
  const results: JobResult[] = [];
  for (let job = 1; job <= options.jobs && !options.signal?.aborted; job++) {
    const response = await options.cache.fetch(
      options.identity,
      options.url,
      options.signal && { signal: options.signal },
    );
    await response.body?.cancel();
    const result = { job, status: response.status };
    results.push(result);
    options.onJob?.(result);
    if (job < options.jobs) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  return results;
}

export { runUndiciJobs, type UndiciWorkerOptions } from './undici-worker.js';
