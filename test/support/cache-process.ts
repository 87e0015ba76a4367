// One "process" of a multi-process test: a TokenCache on a shared store
// (Redis or PostgreSQL, as the parent says), calling getAccessToken until a
// deadline (or once per key and worker when `durationMs` is 0), then printing
// what it saw as one JSON line.
// Run as: node --conditions=source --import tsx cache-process.ts '<config JSON>'
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { openCacheProcessStore, type CacheProcessStoreSpec } from './cache-process-store.js';

/** What the parent passes to a child. */
export interface CacheProcessConfig {
  readonly store: CacheProcessStoreSpec;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly keys: readonly string[];
  /** 0: each worker calls once per key, then the process reports. */
  readonly durationMs: number;
  readonly concurrency: number;
  readonly lockTtlMs: number;
  /** @default the store's own */
  readonly lockPollIntervalMs?: number;
}

/** What a child reports. */
export interface CacheProcessReport {
  readonly calls: number;
  readonly failures: number;
  /** Failures by error code (or name, for an error without one). */
  readonly errors: Record<string, number>;
  /** Failures by key. */
  readonly failuresByKey: Record<string, number>;
  /** Each key's last outcome: `ok`, or the error code of its last call. */
  readonly lastOutcome: Record<string, string>;
  /** The distinct error messages (the first 20). */
  readonly messages: string[];
  readonly refreshes: number;
  /** Distinct access tokens the callers got. */
  readonly tokens: string[];
}

const config = JSON.parse(process.argv[2]!) as CacheProcessConfig;
const { store, close } = await openCacheProcessStore(config.store, {
  lockTtlMs: config.lockTtlMs,
  lockPollIntervalMs: config.lockPollIntervalMs,
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
const failuresByKey: Record<string, number> = {};
const lastOutcome: Record<string, string> = {};
const messages = new Set<string>();
const tokens = new Set<string>();
async function call(key: string): Promise<void> {
  calls++;
  try {
    tokens.add(await cache.getAccessToken(key));
    lastOutcome[key] = 'ok';
  } catch (error) {
    failures++;
    const code = (error as { code?: string }).code ?? (error as Error).name;
    errors[code] = (errors[code] ?? 0) + 1;
    failuresByKey[key] = (failuresByKey[key] ?? 0) + 1;
    lastOutcome[key] = code;
    if (messages.size < 20) messages.add(String((error as Error).message));
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
const report: CacheProcessReport = {
  calls,
  failures,
  errors,
  failuresByKey,
  lastOutcome,
  messages: [...messages],
  refreshes: cache.stats().refreshes,
  tokens: [...tokens],
};
process.stdout.write(`${JSON.stringify(report)}\n`);
await close();
