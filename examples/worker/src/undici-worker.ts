import type { TokenCache } from '@refreshkit/core';
import { bearerInterceptor } from '@refreshkit/undici';
import { Agent, request } from 'undici';
import type { JobResult } from './worker.js';

/** Options of {@link runUndiciJobs}. */
export interface UndiciWorkerOptions {
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
  /** Called after each job, e.g. to show progress. */
  readonly onJob?: (result: JobResult) => void;
}

/**
 * The job loop of `runJobs`, calling the API with undici `request` instead
 * of `cache.fetch`: the dispatcher is composed with the bearer interceptor
 * once, for the service identity, and each job is a plain undici call.
 */
export async function runUndiciJobs(options: UndiciWorkerOptions): Promise<JobResult[]> {
  const agent = new Agent();
  const dispatcher = agent.compose(bearerInterceptor({ cache: options.cache, key: options.identity }));
  const results: JobResult[] = [];
  try {
    for (let job = 1; job <= options.jobs; job++) {
      const { statusCode, body } = await request(options.url, { dispatcher });
      await body.dump();
      const result = { job, status: statusCode };
      results.push(result);
      options.onJob?.(result);
      if (job < options.jobs) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }
  } finally {
    await agent.close();
  }
  return results;
}
