// One "process" of a multi-process test: a TokenCache on a RedisTokenStore,
// hammering keys until a deadline, then printing what it saw as one JSON line.
// Run as: node --conditions=source --import tsx cache-process.ts '<config JSON>'
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';

/** What the parent passes to a child. */
export interface CacheProcessConfig {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly keys: readonly string[];
  readonly durationMs: number;
  readonly concurrency: number;
  readonly lockTtlMs: number;
  /** Connect through a client of this ioredis package (otherwise the store connects to the URL itself). */
  readonly ioredis?: 'ioredis' | 'ioredis5';
}

/** What a child reports. */
export interface CacheProcessReport {
  readonly calls: number;
  readonly failures: number;
  readonly errors: Record<string, number>;
  readonly refreshes: number;
}

const config = JSON.parse(process.argv[2]!) as CacheProcessConfig;
const client =
  config.ioredis === undefined
    ? undefined
    : new (await import(config.ioredis)).Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
client?.on('error', () => {});
const store = new RedisTokenStore({
  redis: client ?? config.redisUrl,
  prefix: config.prefix,
  lockTtlMs: config.lockTtlMs,
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
const deadline = Date.now() + config.durationMs;
await Promise.all(
  Array.from({ length: config.concurrency }, async (_, worker) => {
    for (let i = worker; Date.now() < deadline; i++) {
      calls++;
      try {
        await cache.getAccessToken(config.keys[i % config.keys.length]!);
      } catch (error) {
        failures++;
        const code = (error as { code?: string }).code ?? (error as Error).name;
        errors[code] = (errors[code] ?? 0) + 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }),
);
// Let refreshes in flight store their rotated tokens before the store closes.
await cache.close();
const report: CacheProcessReport = { calls, failures, errors, refreshes: cache.stats().refreshes };
process.stdout.write(`${JSON.stringify(report)}\n`);
await store.close();
client?.disconnect();
