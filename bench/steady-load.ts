// Benchmark 4: steady load across 5 expiries with the default refresh
// window: how many callers had to wait on the token endpoint, and p99
// latency near expiry boundaries against p99 in between.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { percentile, type Benchmark } from './harness.js';
import type { TokenEndpointProcessConfig } from './token-endpoint-process.js';

const LIFETIME_S = 2;
/** A realistic token endpoint takes tens of milliseconds. */
const ENDPOINT_DELAY_MS = 30;
const EXPIRIES = 5;
const KEYS = 4;
const CONCURRENCY = 50;
/** Samples within this distance of a token renewal count as "at the boundary". */
const BOUNDARY_MS = 50;
/** Enough for every 4th call of a full run on a fast machine (about 20 million calls). */
const MAX_SAMPLES = 6_000_000;

export const steadyLoad: Benchmark = {
  id: 'steady-load',
  async run() {
    const config: TokenEndpointProcessConfig = { delayMs: ENDPOINT_DELAY_MS, lifetimeS: LIFETIME_S };
    const server = fork(
      fileURLToPath(new URL('./token-endpoint-process.ts', import.meta.url)),
      [JSON.stringify(config)],
      {
        execArgv: ['--import', 'tsx'],
      },
    );
    const tokenUrl = await new Promise<string>((resolve) => server.once('message', (url) => resolve(url as string)));
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
    });
    let waited = 0;
    const renewals: number[] = [];
    cache.on('refresh', ({ background }) => {
      renewals.push(Date.now());
      if (!background) waited++;
    });
    const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    const start = Date.now();
    for (const key of keys) {
      await cache.set(key, {
        accessToken: `seed-${key}`,
        refreshToken: `seed-rt-${key}`,
        expiresAt: start + LIFETIME_S * 1000,
      });
    }
    // Preallocated: millions of sample objects would bring GC pauses long enough
    // to skip a refresh window, measuring the benchmark instead of the cache.
    const sampleAt = new Float64Array(MAX_SAMPLES);
    const sampleMs = new Float64Array(MAX_SAMPLES);
    let sampleCount = 0;
    let calls = 0;
    const durationMs = EXPIRIES * LIFETIME_S * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        for (let i = worker; Date.now() - start < durationMs; i++) {
          const sent = performance.now();
          await cache.getAccessToken(keys[i % KEYS]!);
          // Every 4th call is timed, so the samples span the whole run.
          if (calls++ % 4 === 0 && sampleCount < MAX_SAMPLES) {
            sampleAt[sampleCount] = Date.now();
            sampleMs[sampleCount++] = performance.now() - sent;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    server.disconnect();
    // Each renewal is an expiry boundary: the token it replaced was about to expire.
    const nearBoundary = (at: number) => {
      let low = 0;
      let high = renewals.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (renewals[mid]! < at) low = mid + 1;
        else high = mid;
      }
      const next = renewals[low];
      const previous = renewals[low - 1];
      return (
        (next !== undefined && next - at <= BOUNDARY_MS) || (previous !== undefined && at - previous <= BOUNDARY_MS)
      );
    };
    const boundary: number[] = [];
    const between: number[] = [];
    for (let i = 0; i < sampleCount; i++) (nearBoundary(sampleAt[i]!) ? boundary : between).push(sampleMs[i]!);
    const ratio = percentile(boundary, 99) / percentile(between, 99);
    const coalescedWaiters = cache.stats().coalesced;
    return {
      name: '4. steady load across 5 expiries: callers that waited on the endpoint; p99 at expiry ÷ p99 between',
      target: '0; ≤ 1.2',
      figure: `${waited + coalescedWaiters} callers waited; p99 ratio ${ratio.toFixed(2)}`,
      ratio,
      pass: waited + coalescedWaiters === 0 && ratio <= 1.2,
      notes:
        `${calls.toLocaleString('en')} calls (${sampleCount.toLocaleString('en')} of them timed, every 4th) by ${CONCURRENCY} concurrent callers over ${KEYS} keys; tokens live ${LIFETIME_S} s (counted 1 s) and were renewed ${renewals.length} times; the endpoint answers in ${ENDPOINT_DELAY_MS} ms, from a process of its own; "at expiry" = within ${BOUNDARY_MS} ms of a renewal. ` +
        "No caller waits at a renewal; what the p99 ratio measures there is the renewal's own work in this process (the HTTP request, parsing, storing) sharing the callers' event loop. " +
        'It was 1.12–1.26 while callers inside the refresh window took the slow path (an async function and one more await); they now get the same direct answer as a fresh hit.',
    };
  },
};
