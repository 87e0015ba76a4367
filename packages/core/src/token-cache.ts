import PQueue from 'p-queue';
import { abortable } from './abortable.js';
import { fetchWithBearer } from './bearer-fetch.js';
import {
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  type ReauthenticationReason,
} from './errors.js';
import { MemoryStore } from './memory-store.js';
import { refreshAtFor } from './refresh-schedule.js';
import { SaveRetrier } from './save-retrier.js';
import type {
  CacheGrant,
  GetAccessTokenOptions,
  TokenCacheEvents,
  TokenCacheOptions,
  TokenCacheStats,
} from './token-cache-options.js';
import type { TokenEndpoint } from './token-endpoint.js';
import { toTokenSet, type TokenSet } from './token-set.js';
import type { MaybePromise, TokenRecord, TokenStore } from './token-store.js';
import { TypedEvents } from './typed-events.js';
import { validateCacheOptions } from './validate-cache-options.js';
import { assertKey } from './validate.js';

/**
 * After a background refresh fails, the next one for that key waits this
 * fraction of the token's remaining life (between the bounds below), so an
 * unreachable endpoint is not hammered by every hit in the refresh window.
 */
const BACKGROUND_RETRY_FRACTION = 0.25;
const BACKGROUND_RETRY_MIN_MS = 1_000;
const BACKGROUND_RETRY_MAX_MS = 30_000;

/** Attempts at an unconditional write (`set`, `invalidate`) racing other writers. */
const MAX_WRITE_ATTEMPTS = 8;

/** Marks a slow-path call whose caller has not read the store yet. */
const NOT_READ = Symbol('not read');

/**
 * Where a record made by this cache keeps its access token as a settled
 * promise, made once with the record, so that a cache hit allocates nothing.
 * A symbol key, so that a store that serialises records never writes it; a
 * record read back without it is served through `Promise.resolve`. It is an
 * ordinary own property, not a non-enumerable one: that would move it out of
 * the object and cost about 40 more bytes a key.
 */
const SETTLED_TOKEN = Symbol('settled access token');

/** A record as this cache makes it. */
type ServedRecord = TokenRecord & { readonly [SETTLED_TOKEN]?: Promise<string> };

/** The access token of a usable record, as a promise. */
function settledToken(record: ServedRecord): Promise<string> {
  return record[SETTLED_TOKEN] ?? Promise.resolve(record.tokens.accessToken);
}

/**
 * The next version of `record`, unusable at once: every caller must wait for
 * a refresh (invalidated), or, when `dead`, re-authenticate.
 */
function unusable(record: TokenRecord, dead = false): TokenRecord {
  return {
    ...record,
    version: record.version + 1,
    refreshAt: 0,
    usableUntil: 0,
    ...(dead && { reauthenticationRequired: true }),
  };
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/**
 * Keeps access tokens fresh per key: refreshes before expiry in the
 * background, makes callers wait only when a token is expired or
 * invalidated, and never runs two refreshes of one key at once (in this
 * process; with a store that implements `lock`, across processes too).
 *
 * @example
 * const cache = new TokenCache({ endpoint, allowedOrigins: ['https://api.example.com'] });
 * await cache.set('user-42', { accessToken, refreshToken, expiresAt });
 * const token = await cache.getAccessToken('user-42');
 */
export class TokenCache extends TypedEvents<TokenCacheEvents> {
  readonly #endpointFor: (key: string) => TokenEndpoint;
  readonly #grant: CacheGrant;
  readonly #store: TokenStore;
  readonly #load: TokenCacheOptions['load'];
  readonly #saves: SaveRetrier | undefined;
  readonly #refreshWindowMs: number;
  readonly #refreshJitter: number;
  readonly #queue: PQueue;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #fetch: typeof globalThis.fetch;

  /** One refresh per key in this process: later callers join the running one. */
  readonly #inflight = new Map<string, Promise<TokenRecord>>();
  /** Keys whose background refresh failed recently, with when to try again. */
  readonly #backgroundRetryAt = new Map<string, number>();

  #closed = false;
  #hits = 0;
  #misses = 0;
  #refreshes = 0;
  #coalesced = 0;
  #failures = 0;

  /**
   * @throws TypeError naming the option, when an option is invalid.
   */
  constructor(options: TokenCacheOptions) {
    super();
    const resolved = validateCacheOptions(options);
    const { endpoint } = resolved;
    this.#endpointFor = typeof endpoint === 'function' ? endpoint : () => endpoint;
    this.#grant = resolved.grant;
    this.#store = resolved.store ?? new MemoryStore();
    this.#load = resolved.load;
    this.#refreshWindowMs = resolved.refreshWindowMs;
    this.#refreshJitter = resolved.refreshJitter;
    this.#now = resolved.now;
    this.#random = resolved.random;
    this.#allowedOrigins = resolved.allowedOrigins;
    this.#fetch = resolved.fetch;
    this.#queue = new PQueue({
      concurrency: resolved.endpointConcurrency,
      ...(resolved.endpointRateLimit && {
        intervalCap: resolved.endpointRateLimit.limit,
        interval: resolved.endpointRateLimit.intervalMs,
      }),
    });
    const save = resolved.save;
    this.#saves =
      save &&
      new SaveRetrier(save, (key, error, attempt) => this.emit('saveError', { key, error, attempt }), this.#random);
  }

  /**
   * Returns a valid access token for `key`. Inside the refresh window the
   * current token comes back at once while one background refresh runs; only
   * an expired or invalidated token makes the caller wait.
   *
   * @throws ReauthenticationRequiredError when the key has no usable grant.
   * @throws TypeError when `key` is not a non-empty string.
   */
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string> {
    // The hit path: one store read, one clock read, no closures, and no
    // allocation for a record this cache made (see SETTLED_TOKEN). A pending
    // (promise) read has no `refreshAt` or `usableUntil`, so both comparisons
    // are false and it falls through with everything else that is not a hit.
    if (options === undefined && typeof key === 'string') {
      const found = this.#store.get(key);
      if (found !== undefined) {
        const now = this.#now();
        if (now < (found as ServedRecord).refreshAt) {
          this.#hits++;
          return settledToken(found as ServedRecord);
        }
        // Inside the refresh window the token is served as directly, without
        // the slow path's extra await: a background refresh must not slow
        // the callers of its key.
        if (now < (found as ServedRecord).usableUntil) {
          this.#onHit(key, found as ServedRecord, now);
          return settledToken(found as ServedRecord);
        }
      }
      // Hand the read on: a second read would double the store's work, and a
      // dropped promise would reject unhandled.
      return this.#getAccessTokenSlow(key, undefined, found);
    }
    return this.#getAccessTokenSlow(key, options, NOT_READ);
  }

  /**
   * Stores tokens for `key` (after a login or a consent), replacing whatever
   * was there, clearing a dead-grant mark, and running the `save` hook.
   *
   * @throws TypeError when `key` or `tokens` is malformed; nothing is stored then.
   */
  async set(key: string, tokens: TokenSet): Promise<void> {
    assertKey(key);
    const clean = toTokenSet(tokens);
    const issuedAt = this.#now();
    await this.#saves?.save(key, clean);
    const written = await this.#writeOver(key, (current) =>
      this.#recordFor(clean, (current?.version ?? 0) + 1, issuedAt),
    );
    if (!written) {
      throw new StoreUnavailableError(
        `Could not write tokens for key \`${key}\`: ${MAX_WRITE_ATTEMPTS} writes in a row lost a race with other writers`,
      );
    }
    this.#backgroundRetryAt.delete(key);
  }

  /**
   * Marks the current token of `key` as unusable so the next caller refreshes.
   * With `token`, only if it is still the current one: N requests that all
   * got a 401 for the same token cause one refresh, not N.
   *
   * @returns whether a token was invalidated.
   */
  async invalidate(key: string, token?: string): Promise<boolean> {
    assertKey(key);
    return this.#writeOver(key, (current) => {
      if (current === undefined || current.usableUntil === 0) return undefined;
      if (token !== undefined && current.tokens.accessToken !== token) return undefined;
      return unusable(current);
    });
  }

  /** Forgets every token of `key` in the store (the `load` source is the app's to clean). */
  async delete(key: string): Promise<void> {
    assertKey(key);
    this.#saves?.cancel(key);
    this.#backgroundRetryAt.delete(key);
    await this.#store.delete(key);
  }

  /**
   * `fetch` with the fresh bearer of `key`: only to `allowedOrigins`, never
   * across a redirect to another origin, and retried once with a new token
   * after a 401.
   *
   * @throws OriginNotAllowedError (before sending) for any other origin.
   */
  fetch(key: string, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return fetchWithBearer(this, key, this.#allowedOrigins, this.#fetch, input, init);
  }

  /** `Bearer <token>` for `key`, for callers that use another HTTP client. */
  async authorizationHeader(key: string, options?: GetAccessTokenOptions): Promise<string> {
    return `Bearer ${await this.getAccessToken(key, options)}`;
  }

  /** Whether `cache.fetch` may send the bearer to the origin of `url`. */
  isAllowedOrigin(url: string | URL): boolean {
    try {
      return this.#allowedOrigins.has(new URL(url).origin);
    } catch {
      return false;
    }
  }

  /**
   * Shuts down gracefully: starts no more background refreshes, and waits
   * for every refresh in flight to store its tokens. Call it before closing
   * the store (and before the process exits): a refresh cut off after the
   * server rotated the refresh token would lose the new one, and the next
   * refresh would present the old one (reuse). Calls made afterwards still
   * work but only refresh when they must wait anyway.
   */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]);
  }

  /** Counters since creation. */
  stats(): TokenCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      refreshes: this.#refreshes,
      coalesced: this.#coalesced,
      failures: this.#failures,
    };
  }

  /** Token-endpoint calls running and queued right now. */
  get endpointLoad(): { readonly running: number; readonly queued: number } {
    return { running: this.#queue.pending, queued: this.#queue.size };
  }

  async #getAccessTokenSlow(
    key: string,
    options: GetAccessTokenOptions | undefined,
    read: MaybePromise<TokenRecord | undefined> | typeof NOT_READ,
  ): Promise<string> {
    if (read !== NOT_READ && isThenable(read)) read.catch(() => {}); // handled below, or moot if the key is bad
    assertKey(key);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const record = await (read === NOT_READ ? this.#store.get(key) : read);
    if (record === undefined) {
      this.#misses++;
      return (await abortable(this.#refresh(key, undefined, false), signal)).tokens.accessToken;
    }
    const now = this.#now();
    // A dead grant has usableUntil 0, so it comes here too: the locked re-read
    // in #refreshLocked sees tokens another process `set` since, and never
    // calls the endpoint for a grant that is still dead.
    if (options?.forceRefresh !== true && now < record.usableUntil) {
      this.#onHit(key, record, now);
      return record.tokens.accessToken;
    }
    return (await abortable(this.#refresh(key, record.version, false), signal)).tokens.accessToken;
  }

  /** Counts a hit on a record that is still usable, and refreshes it in the background once inside the window. */
  #onHit(key: string, record: TokenRecord, now: number): void {
    this.#hits++;
    if (now >= record.refreshAt) this.#refreshInBackground(key, record, now);
  }

  #refreshInBackground(key: string, seen: TokenRecord, now: number): void {
    if (this.#closed || this.#inflight.has(key)) return;
    const retryAt = this.#backgroundRetryAt.get(key);
    if (retryAt !== undefined && now < retryAt) return;
    this.#refresh(key, seen.version, true).then(
      () => this.#backgroundRetryAt.delete(key),
      () => {
        const pause = (seen.usableUntil - now) * BACKGROUND_RETRY_FRACTION;
        const clamped = Math.min(BACKGROUND_RETRY_MAX_MS, Math.max(BACKGROUND_RETRY_MIN_MS, pause));
        this.#backgroundRetryAt.set(key, now + clamped);
      },
    );
  }

  /**
   * Single flight: joins the refresh of `key` already running in this
   * process, or starts one. `seenVersion` is the version the caller found
   * stale (undefined: nothing stored).
   */
  #refresh(key: string, seenVersion: number | undefined, background: boolean): Promise<TokenRecord> {
    const running = this.#inflight.get(key);
    if (running !== undefined) {
      this.#coalesced++;
      return running;
    }
    const refresh = this.#runRefresh(key, seenVersion, background);
    this.#inflight.set(key, refresh);
    const forget = (): void => {
      if (this.#inflight.get(key) === refresh) this.#inflight.delete(key);
    };
    refresh.then(forget, forget);
    return refresh;
  }

  async #runRefresh(key: string, seenVersion: number | undefined, background: boolean): Promise<TokenRecord> {
    const startedAt = this.#now();
    try {
      const lock = await this.#store.lock?.(key);
      try {
        return await this.#refreshLocked(key, seenVersion, background, startedAt);
      } finally {
        await lock?.release();
      }
    } catch (error) {
      this.#failures++;
      this.emit('refreshError', { key, error, background });
      throw error;
    }
  }

  /** The body of a refresh, run while holding the key's lock (if the store has locks). */
  async #refreshLocked(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    startedAt: number,
  ): Promise<TokenRecord> {
    // Re-read after taking the lock: another process may have refreshed already.
    let current = await this.#store.get(key);
    if (current === undefined && this.#load !== undefined) current = await this.#loadIntoStore(key);
    if (current?.reauthenticationRequired) throw new ReauthenticationRequiredError('invalid_grant', { key });
    if (current !== undefined && current.version !== seenVersion && this.#now() < current.usableUntil) {
      return current;
    }

    const issuedAt = this.#now();
    let tokens: TokenSet;
    try {
      tokens = await this.#obtainTokens(key, current);
    } catch (error) {
      if (!(error instanceof ReauthenticationRequiredError) || current === undefined) throw error;
      return this.#afterRejectedGrant(key, current, error);
    }

    const next = this.#recordFor(tokens, (current?.version ?? 0) + 1, issuedAt);
    // Saved before anyone can read it from the store: "saved before used".
    await this.#saves?.save(key, next.tokens);
    if (await this.#store.compareAndSet(key, next, current?.version)) {
      this.#refreshes++;
      this.emit('refresh', { key, durationMs: this.#now() - startedAt, background });
      return next;
    }
    // Fenced: a newer record landed while we refreshed (our lock lapsed).
    // The newer record wins; make the save hook agree with the store again.
    const newer = await this.#store.get(key);
    if (newer === undefined) throw this.#reauthenticationRequired(key, 'no_tokens');
    if (newer.reauthenticationRequired) throw this.#reauthenticationRequired(key, 'invalid_grant');
    await this.#saves?.save(key, newer.tokens);
    return newer;
  }

  async #obtainTokens(key: string, current: TokenRecord | undefined): Promise<TokenSet> {
    const endpoint = this.#endpointFor(key);
    let raw: TokenSet;
    let previousRefreshToken: string | undefined;
    if (this.#grant === 'client_credentials') {
      raw = await this.#queue.add(() => endpoint.clientCredentials());
    } else {
      if (current === undefined) throw this.#reauthenticationRequired(key, 'no_tokens');
      const refreshToken = current.tokens.refreshToken;
      if (refreshToken === undefined) throw this.#reauthenticationRequired(key, 'no_refresh_token');
      previousRefreshToken = refreshToken;
      raw = await this.#queue.add(() => endpoint.refresh(refreshToken));
    }
    let tokens: TokenSet;
    try {
      tokens = toTokenSet(raw, 'endpoint result');
    } catch (error) {
      throw new InvalidTokenResponseError('The token endpoint returned an unusable token set', { cause: error });
    }
    // A response without a refresh token keeps the old one (RFC 6749 §6).
    if (tokens.refreshToken === undefined && previousRefreshToken !== undefined) {
      tokens = Object.freeze({ ...tokens, refreshToken: previousRefreshToken });
    }
    return tokens;
  }

  /**
   * `invalid_grant`: before declaring the grant dead, re-read the store. If
   * another process rotated the token meanwhile (we lost a race), adopt its
   * record instead of logging the user out.
   */
  async #afterRejectedGrant(
    key: string,
    rejected: TokenRecord,
    error: ReauthenticationRequiredError,
  ): Promise<TokenRecord> {
    const latest = await this.#store.get(key);
    if (latest !== undefined && latest.version !== rejected.version) {
      if (!latest.reauthenticationRequired && this.#now() < latest.usableUntil) return latest;
    } else if (latest !== undefined) {
      await this.#store.compareAndSet(key, unusable(latest, true), latest.version);
    }
    throw this.#reauthenticationRequired(key, 'invalid_grant', error);
  }

  async #loadIntoStore(key: string): Promise<TokenRecord | undefined> {
    const loaded = await this.#load!(key);
    if (loaded === undefined) return undefined;
    const record = this.#recordFor(toTokenSet(loaded, 'load(key) result'), 1, this.#now());
    if (await this.#store.compareAndSet(key, record, undefined)) return record;
    return this.#store.get(key);
  }

  /**
   * Writes the record `build` makes from the current one, re-reading and
   * retrying when another writer races. `build` returns undefined to write
   * nothing. Resolves whether a record was written.
   */
  async #writeOver(
    key: string,
    build: (current: TokenRecord | undefined) => TokenRecord | undefined,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await this.#store.get(key);
      const next = build(current);
      if (next === undefined) return false;
      if (await this.#store.compareAndSet(key, next, current?.version)) return true;
    }
    return false;
  }

  #recordFor(tokens: TokenSet, version: number, issuedAt: number): ServedRecord {
    const refreshAt = refreshAtFor({
      expiresAt: tokens.expiresAt,
      issuedAt,
      refreshWindowMs: this.#refreshWindowMs,
      jitter: this.#refreshJitter,
      random: this.#random(),
    });
    const usableUntil = tokens.expiresAt ?? Infinity;
    return { tokens, version, refreshAt, usableUntil, [SETTLED_TOKEN]: Promise.resolve(tokens.accessToken) };
  }

  #reauthenticationRequired(
    key: string,
    reason: ReauthenticationReason,
    cause?: ReauthenticationRequiredError,
  ): ReauthenticationRequiredError {
    this.emit('reauthenticationRequired', { key, reason });
    return new ReauthenticationRequiredError(reason, {
      key,
      ...(cause && { cause, upstreamStatus: cause.upstreamStatus }),
    });
  }
}
