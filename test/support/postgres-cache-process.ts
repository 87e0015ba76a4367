// One "process" of a multi-process test: a TokenCache on a
// PostgresTokenStore, calling getAccessToken until a deadline (or once per
// worker when `durationMs` is 0), then printing what it saw as one JSON line.
// Run as: node --conditions=source --import tsx postgres-cache-process.ts '<config JSON>'
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { PostgresTokenStore } from '@refreshkit/postgres';

/** What the parent passes to a child. */
export interface PostgresCacheProcessConfig {
  readonly pgUrl: string;
  readonly table: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly keys: readonly string[];
  /** 0: each worker calls once per key, then the process reports. */
  readonly durationMs: number;
  readonly concurrency: number;
  readonly lockTtlMs: number;
}

/** What a child reports. */
export interface PostgresCacheProcessReport {
  readonly calls: number;
  readonly failures: number;
  readonly errors: Record<string, number>;
  readonly refreshes: number;
  /** Distinct access tokens the callers got. */
  readonly tokens: string[];
}

const config = JSON.parse(process.argv[2]!) as PostgresCacheProcessConfig;
const store = new PostgresTokenStore({
  pool: config.pgUrl,
  table: config.table,
  lockTtlMs: config.lockTtlMs,
  lockPollIntervalMs: 50,
  // The machine running the suites is shared: a slow query there is load, not an outage.
  operationTimeoutMs: 10_000,
});
const cache = new TokenCache({
  endpoint: new OAuth2Endpoint({
    tokenUrl: config.tokenUrl,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
  }),
  store,
});

let calls = 0;
let failures = 0;
const errors: Record<string, number> = {};
const tokens = new Set<string>();
async function call(key: string): Promise<void> {
  calls++;
  try {
    tokens.add(await cache.getAccessToken(key));
  } catch (error) {
    failures++;
    const code = (error as { code?: string }).code ?? (error as Error).name;
    errors[code] = (errors[code] ?? 0) + 1;
  }
}

// Tells the parent that the callers are about to start.
process.stderr.write('calling\n');
const deadline = Date.now() + config.durationMs;
await Promise.all(
  Array.from({ length: config.concurrency }, async (_, worker) => {
    if (config.durationMs === 0) {
      for (const key of config.keys) await call(key);
      return;
    }
    for (let i = worker; Date.now() < deadline; i++) {
      await call(config.keys[i % config.keys.length]!);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }),
);
// Let refreshes in flight store their rotated tokens before the store closes.
await cache.close();
const report: PostgresCacheProcessReport = {
  calls,
  failures,
  errors,
  refreshes: cache.stats().refreshes,
  tokens: [...tokens],
};
process.stdout.write(`${JSON.stringify(report)}\n`);
await store.close();
