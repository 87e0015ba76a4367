// Benchmark 3: 10,000 callers in 4 processes sharing one store, all on one
// expired key, run on RedisTokenStore and on PostgresTokenStore side by
// side: token-endpoint calls in total, and the p99 wait of the callers in
// processes that did not win the lock.
import { json, TokenServer } from '../test/support/token-server.js';
import { percentile, type Benchmark } from './harness.js';
import { runChild } from './run-child.js';
import { onEachStore, type SharedStores, type StoreKind } from './shared-stores.js';
import type { CoalescingChildConfig, CoalescingChildReport } from './shared-store-coalescing-child.js';

const PROCESSES = 4;
const CALLERS = 2_500;

interface Outcome {
  readonly kind: StoreKind;
  readonly calls: number;
  /** The losers' p99 wait ÷ the winner's callers' p99 wait. */
  readonly waitRatio: number;
}

async function runOn(stores: SharedStores, kind: StoreKind): Promise<Outcome> {
  const server = await TokenServer.start();
  server.handler = (_request, res) => {
    setTimeout(() => json(res, 200, { access_token: 'fresh', refresh_token: 'next', expires_in: 3600 }), 50);
  };
  try {
    const store = await stores.fresh(kind);
    await stores.seed(
      store,
      new Map([['shared', { accessToken: 'stale', refreshToken: 'rt', expiresAt: Date.now() - 1 }]]),
    );
    // Children need a few seconds to start (tsx); all begin at the same instant.
    const startAt = Date.now() + 5_000;
    const config: CoalescingChildConfig = { store, tokenUrl: server.tokenUrl, startAt, callers: CALLERS };
    const reports = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        runChild<CoalescingChildReport>('./shared-store-coalescing-child.ts', config),
      ),
    );
    const losers = reports.filter((r) => r.refreshes === 0).flatMap((r) => r.waits);
    const winners = reports.filter((r) => r.refreshes > 0).flatMap((r) => r.waits);
    return { kind, calls: server.requests.length, waitRatio: percentile(losers, 99) / percentile(winners, 99) };
  } finally {
    await server.close();
  }
}

export const sharedStoreCoalescing: Benchmark = {
  id: 'shared-store-coalescing',
  async run() {
    const outcomes = await onEachStore(runOn);
    return {
      name: '3. 4 processes × 2,500 callers sharing RedisTokenStore / PostgresTokenStore, one expired key: endpoint calls; losers p99 wait',
      target: '1 each',
      figure: outcomes
        .map((o) => `${o.kind}: ${o.calls} call(s), losers' p99 wait ${o.waitRatio.toFixed(2)}× the winner's`)
        .join('; '),
      pass: outcomes.every((o) => o.calls === 1),
      notes:
        'the endpoint answers after 50 ms; processes that lost the lock are woken by pub/sub (Redis) or LISTEN/NOTIFY (PostgreSQL), polling every 50 ms as a fallback; the wait ratio compares losers with the callers in the winning process',
    };
  },
};
