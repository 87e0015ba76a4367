// Benchmark: how soon processes waiting for another process's refresh hold
// its tokens. One process wins each key's lock and refreshes; three others
// wait on the same key. Measured per round: from the start of the winner's
// store write to the moment the last waiter in the other processes holds the
// new token (the store's wake-up, the waiter's re-read, and its callers'
// resumption), on RedisTokenStore and PostgresTokenStore side by side.
import { json, TokenServer } from '../test/support/token-server.js';
import { percentile, type Benchmark } from './harness.js';
import { runChild } from './run-child.js';
import { onEachStore, type SharedStores, type StoreKind } from './shared-stores.js';
import type { WakeLatencyChildConfig, WakeLatencyChildReport } from './wake-latency-child.js';

const WAITER_PROCESSES = 3;
const CALLERS = 100;
const ROUNDS = 50;
const ROUND_MS = 300;
const ENDPOINT_DELAY_MS = 100;

interface Outcome {
  readonly kind: StoreKind;
  /** ms from the winner's write to the last waiter done, one per round the winner won. */
  readonly latencies: readonly number[];
}

async function runOn(stores: SharedStores, kind: StoreKind): Promise<Outcome> {
  const server = await TokenServer.start();
  let serial = 0;
  server.handler = (_request, res) => {
    const n = ++serial;
    setTimeout(
      () => json(res, 200, { access_token: `at-${n}`, refresh_token: `rt-${n}`, expires_in: 3600 }),
      ENDPOINT_DELAY_MS,
    );
  };
  try {
    const store = await stores.fresh(kind);
    const keys = Array.from({ length: ROUNDS }, (_, i) => `key-${i}`);
    const expired = { accessToken: 'stale', refreshToken: 'rt', expiresAt: Date.now() - 1 };
    await stores.seed(store, new Map(keys.map((key) => [key, expired])));
    // Children need a few seconds to start (tsx).
    const base = { store, tokenUrl: server.tokenUrl, keys, firstAt: Date.now() + 6_000, roundMs: ROUND_MS };
    const config = (role: 'winner' | 'waiter'): WakeLatencyChildConfig => ({
      ...base,
      role,
      waiterDelayMs: 30,
      callers: role === 'winner' ? 1 : CALLERS,
    });
    const [winner, ...waiters] = await Promise.all([
      runChild<WakeLatencyChildReport>('./wake-latency-child.ts', config('winner')),
      ...Array.from({ length: WAITER_PROCESSES }, () =>
        runChild<WakeLatencyChildReport>('./wake-latency-child.ts', config('waiter')),
      ),
    ]);
    // A round counts only if the winner wrote (a waiter that took the lock first would have refreshed itself).
    const latencies = keys
      .filter((key) => winner!.at[key] !== undefined)
      .map((key) => Math.max(...waiters.map((w) => w.at[key]!)) - winner!.at[key]!);
    return { kind, latencies };
  } finally {
    await server.close();
  }
}

export const wakeLatency: Benchmark = {
  id: 'wake-latency',
  async run() {
    const outcomes = await onEachStore(runOn);
    const ms = (value: number) => `${value.toFixed(1)} ms`;
    return {
      name: 'wake. winner’s store write → last waiter in another process holds the new token (RedisTokenStore / PostgresTokenStore)',
      target: 'side by side (no target in the issue); p50 under the 250 ms poll interval',
      figure: outcomes
        .map(
          (o) =>
            `${o.kind}: p50 ${ms(percentile(o.latencies, 50))}, p99 ${ms(percentile(o.latencies, 99))} (${o.latencies.length} rounds)`,
        )
        .join('; '),
      pass: outcomes.every((o) => o.latencies.length > 0 && percentile(o.latencies, 50) < 250),
      notes: `${ROUNDS} rounds a store, each on its own expired key: one winner process refreshes (the endpoint answers after ${ENDPOINT_DELAY_MS} ms) while ${WAITER_PROCESSES} other processes × ${CALLERS} callers wait on its lock with the default 250 ms poll interval; measured from the start of the winner's compare-and-set to the last waiter's token, on one machine's clock. Rounds a waiter won (it took the lock before the winner) are left out. Woken waiters still take the lock one process at a time to re-read, so the figure grows with the number of waiting processes.`,
    };
  },
};
