import { coarseClock } from './coarse-clock.js';
import type { CacheGrant, KeepAliveOptions, TokenCacheOptions } from './token-cache-options.js';
import type { TokenStore } from './token-store.js';
import {
  assertFunction,
  assertIntegerInRange,
  assertNumberInRange,
  assertObject,
  assertOneOf,
  invalid,
} from './validate.js';

/** {@link TokenCacheOptions} after validation, with defaults applied. */
export interface ResolvedCacheOptions {
  readonly endpoint: TokenCacheOptions['endpoint'];
  readonly grant: CacheGrant;
  readonly store: TokenStore | undefined;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly refreshWindowMs: number;
  readonly refreshJitter: number;
  readonly load: TokenCacheOptions['load'];
  readonly save: TokenCacheOptions['save'];
  readonly hookTimeoutMs: number;
  readonly endpointConcurrency: number;
  readonly endpointRateLimit: TokenCacheOptions['endpointRateLimit'];
  readonly fetch: typeof globalThis.fetch;
  readonly now: () => number;
  readonly random: () => number;
  readonly keepAlive: ResolvedKeepAlive;
}

/** Keep-alive settings after validation; `intervalMs` is undefined when no periodic sweep runs. */
export interface ResolvedKeepAlive {
  readonly intervalMs: number | undefined;
  readonly leadMs: number;
  readonly idleMs: number | undefined;
  readonly keys: KeepAliveOptions['keys'];
  readonly batchSize: number;
}

/** How stale the default clock may be; see `coarseClock`. */
const CLOCK_RESOLUTION_MS = 10;

const DEFAULTS = {
  grant: 'refresh_token' as CacheGrant,
  refreshWindowMs: 60_000,
  refreshJitter: 0.2,
  endpointConcurrency: 8,
  hookTimeoutMs: 10_000,
};

/** Longest delay a timer accepts (`setTimeout` fires at once beyond it). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Validates every option once, at construction, and returns a new object:
 * the caller's options object is never mutated.
 *
 * @throws TypeError naming the first bad option and its value.
 */
export function validateCacheOptions(options: TokenCacheOptions): ResolvedCacheOptions {
  assertObject('options', options);
  const merged = { ...DEFAULTS, ...definedOnly(options) };
  const { endpoint, store, load, save, now, random, fetch, endpointRateLimit } = merged;

  if (typeof endpoint !== 'function') {
    assertObject('endpoint', endpoint);
    assertFunction('endpoint.refresh', endpoint.refresh);
    assertFunction('endpoint.clientCredentials', endpoint.clientCredentials);
  }
  assertOneOf('grant', merged.grant, ['refresh_token', 'client_credentials']);
  if (store !== undefined) {
    assertObject('store', store);
    for (const method of ['get', 'compareAndSet', 'delete'] as const) assertFunction(`store.${method}`, store[method]);
  }
  assertNumberInRange('refreshWindowMs', merged.refreshWindowMs, 0);
  assertNumberInRange('refreshJitter', merged.refreshJitter, 0, 1);
  if (load !== undefined) assertFunction('load', load);
  if (save !== undefined) assertFunction('save', save);
  assertIntegerInRange('hookTimeoutMs', merged.hookTimeoutMs, 1, MAX_TIMER_MS);
  if (now !== undefined) assertFunction('now', now);
  if (random !== undefined) assertFunction('random', random);
  if (fetch !== undefined) assertFunction('fetch', fetch);
  assertIntegerInRange('endpointConcurrency', merged.endpointConcurrency, 1);
  if (endpointRateLimit !== undefined) {
    assertObject('endpointRateLimit', endpointRateLimit);
    assertIntegerInRange('endpointRateLimit.limit', endpointRateLimit.limit, 1);
    assertIntegerInRange('endpointRateLimit.intervalMs', endpointRateLimit.intervalMs, 1);
  }

  const keepAlive = keepAliveOf(merged.keepAlive, store);

  return {
    keepAlive,
    endpoint,
    grant: merged.grant,
    store,
    allowedOrigins: originsOf(merged.allowedOrigins),
    refreshWindowMs: merged.refreshWindowMs,
    refreshJitter: merged.refreshJitter,
    load,
    save,
    hookTimeoutMs: merged.hookTimeoutMs,
    endpointConcurrency: merged.endpointConcurrency,
    endpointRateLimit: endpointRateLimit && { ...endpointRateLimit },
    fetch: fetch ?? ((input, init) => globalThis.fetch(input, init)),
    now: now ?? coarseClock(CLOCK_RESOLUTION_MS),
    random: random ?? Math.random,
  };
}

const KEEP_ALIVE_DEFAULTS = { leadMs: 3_600_000, batchSize: 1_000 };

function keepAliveOf(value: KeepAliveOptions | undefined, store: TokenStore | undefined): ResolvedKeepAlive {
  if (value === undefined) {
    return { intervalMs: undefined, idleMs: undefined, keys: undefined, ...KEEP_ALIVE_DEFAULTS };
  }
  assertObject('keepAlive', value);
  const merged = { ...KEEP_ALIVE_DEFAULTS, ...definedOnly(value) };
  assertIntegerInRange('keepAlive.intervalMs', merged.intervalMs, 1_000, MAX_TIMER_MS);
  assertNumberInRange('keepAlive.leadMs', merged.leadMs, 0);
  if (merged.idleMs !== undefined) assertIntegerInRange('keepAlive.idleMs', merged.idleMs, 1);
  if (merged.keys !== undefined) assertFunction('keepAlive.keys', merged.keys);
  assertIntegerInRange('keepAlive.batchSize', merged.batchSize, 1, 100_000);
  if (merged.keys === undefined && store !== undefined && typeof store.dueBefore !== 'function') {
    throw invalid('keepAlive.keys', 'a function listing keys, since `store` has no `dueBefore`', merged.keys);
  }
  return {
    intervalMs: merged.intervalMs,
    leadMs: merged.leadMs,
    idleMs: merged.idleMs,
    keys: merged.keys,
    batchSize: merged.batchSize,
  };
}

/** Drops keys whose value is `undefined`, so they do not override defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Normalises `allowedOrigins` to origins (`scheme://host[:port]`), rejecting
 * entries with a path, query or credentials: an origin list that looks like
 * a URL prefix would suggest a narrower rule than the one enforced.
 */
function originsOf(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) throw invalid('allowedOrigins', 'an array of origins', value);
  const origins = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const name = `allowedOrigins[${index}]`;
    if (typeof entry !== 'string') throw invalid(name, 'an origin such as `https://api.example.com`', entry);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalid(name, 'an origin such as `https://api.example.com`', entry);
    }
    const bare = url.pathname === '/' && url.search === '' && url.hash === '' && !url.username && !url.password;
    if (!bare || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw invalid(name, 'an http(s) origin with no path, query or credentials', entry);
    }
    origins.add(url.origin);
  });
  return origins;
}
