// One process of benchmark 3: at a shared start time, 2,500 concurrent
// getAccessToken calls on one expired key, on the shared store the parent
// names; prints each caller's wait.
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { openCacheProcessStore, type CacheProcessStoreSpec } from '../test/support/cache-process-store.js';

/** What the parent passes (JSON in argv[2]). */
export interface CoalescingChildConfig {
  readonly store: CacheProcessStoreSpec;
  readonly tokenUrl: string;
  readonly startAt: number;
  readonly callers: number;
}

/** What the child prints. */
export interface CoalescingChildReport {
  readonly waits: number[];
  readonly refreshes: number;
}

const config = JSON.parse(process.argv[2]!) as CoalescingChildConfig;
const { store, close } = await openCacheProcessStore(config.store, { lockPollIntervalMs: 50 });
const cache = new TokenCache({
  endpoint: new OAuth2Endpoint({ tokenUrl: config.tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
  store,
});
await new Promise((resolve) => setTimeout(resolve, Math.max(0, config.startAt - Date.now())));
const waits = await Promise.all(
  Array.from({ length: config.callers }, async () => {
    const sent = performance.now();
    await cache.getAccessToken('shared');
    return performance.now() - sent;
  }),
);
await cache.close();
const report: CoalescingChildReport = { waits, refreshes: cache.stats().refreshes };
process.stdout.write(`${JSON.stringify(report)}\n`);
await close();
