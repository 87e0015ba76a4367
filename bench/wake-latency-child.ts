// One process of the wake-latency benchmark, on the shared store the parent
// names. Round i starts at `firstAt + i * roundMs` on key `keys[i]`, which
// has expired: the winner calls once (and refreshes, holding the lock while
// the endpoint answers); each waiter process calls `callers` times a little
// later, so that they wait for the winner's lock. The winner reports when it
// began each write that landed; a waiter, when its last caller of each round
// held a token. Times are ms epoch with sub-ms precision, comparable across
// processes on one machine.
import { OAuth2Endpoint, TokenCache, type TokenStore } from '@refreshkit/core';
import { openCacheProcessStore, type CacheProcessStoreSpec } from '../test/support/cache-process-store.js';

/** What the parent passes (JSON in argv[2]). */
export interface WakeLatencyChildConfig {
  readonly store: CacheProcessStoreSpec;
  readonly tokenUrl: string;
  readonly role: 'winner' | 'waiter';
  readonly keys: readonly string[];
  readonly firstAt: number;
  readonly roundMs: number;
  /** How long after the winner a waiter calls. */
  readonly waiterDelayMs: number;
  readonly callers: number;
}

/** What the child prints: per key, the winner's write or the waiter's last caller done. */
export interface WakeLatencyChildReport {
  readonly at: Record<string, number>;
}

const config = JSON.parse(process.argv[2]!) as WakeLatencyChildConfig;
const now = (): number => performance.timeOrigin + performance.now();
const at: Record<string, number> = {};
const opened = await openCacheProcessStore(config.store);

/** The store, with the start of each write that landed noted (the winner's side of the measure). */
function notingWrites(store: TokenStore): TokenStore {
  const compareAndSet: TokenStore['compareAndSet'] = async (key, record, expected) => {
    const startedAt = now();
    const written = await store.compareAndSet(key, record, expected);
    if (written) at[key] = startedAt;
    return written;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'compareAndSet') return compareAndSet;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const cache = new TokenCache({
  endpoint: new OAuth2Endpoint({ tokenUrl: config.tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
  store: config.role === 'winner' ? notingWrites(opened.store) : opened.store,
});
for (const [round, key] of config.keys.entries()) {
  const startAt = config.firstAt + round * config.roundMs + (config.role === 'waiter' ? config.waiterDelayMs : 0);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
  if (config.role === 'winner') {
    await cache.getAccessToken(key);
    continue;
  }
  await Promise.all(
    Array.from({ length: config.callers }, async () => {
      await cache.getAccessToken(key);
      at[key] = Math.max(at[key] ?? 0, now());
    }),
  );
}
await cache.close();
const report: WakeLatencyChildReport = { at };
process.stdout.write(`${JSON.stringify(report)}\n`);
await opened.close();
