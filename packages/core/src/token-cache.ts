import { LRUCache } from 'lru-cache';
import PQueue from 'p-queue';
import { abortable } from './abortable.js';
import { fetchWithBearer } from './bearer-fetch.js';
import {
  CorruptRecordError,
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  TokenEndpointConfigurationError,
  type ReauthenticationReason,
} from './errors.js';
import { settleWithin } from './hook-timeout.js';
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
import type { MaybePromise, StoreReadOptions, TokenRecord, TokenStore } from './token-store.js';
import { TypedEvents } from './typed-events.js';
import { unrefTimer } from './unref-timer.js';
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

/**
 * Most keys whose failure this process remembers (a failed background
 * refresh's pause, a refused client-credentials identity's backoff): the
 * least recently failed are forgotten beyond it, so memory follows the
 * number of keys in use, as the default store's does, not every key ever seen.
 */
const MAX_REMEMBERED_FAILURES = 10_000;

/**
 * A token set from the endpoint is served for at least this long after it
 * arrived, even when it claims to be expired already (`expires_in: 0`, a JWT
 * `exp` in the past, a server clock ahead of ours): otherwise every request
 * would refresh; with the floor a key refreshes at most about twice a second
 * (the refresh window is half of it). Short enough not to stretch genuinely
 * short-lived tokens noticeably. An API that rejects such a token answers
 * 401, and `invalidate` still forces a refresh.
 */
const MIN_USABLE_MS = 1_000;

/**
 * A client-credentials identity the endpoint refused (`invalid_grant`,
 * `invalid_client`, ...) is not dead (it has no refresh token to lose):
 * callers get the same error without an endpoint call for this long, doubling
 * with each refusal in a row up to the maximum, and then it is tried again.
 */
const CLIENT_REFUSED_MIN_MS = 5_000;
const CLIENT_REFUSED_MAX_MS = 300_000;

/** Pauses between attempts to write a rotated set the store refused (it was unreachable). */
const KEPT_WRITE_MIN_MS = 1_000;
const KEPT_WRITE_MAX_MS = 30_000;

/** Reads the shared source itself; every protocol step that decides on the record reads this way. */
const FRESH: StoreReadOptions = Object.freeze({ fresh: true });

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

/**
 * Whether two token sets are the same grant state. A record that holds the
 * very tokens a refresh started from (invalidated or marked meanwhile) is
 * older than the refresh's result, whatever its version.
 */
function sameTokens(a: TokenSet, b: TokenSet | undefined): boolean {
  return b !== undefined && a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}

/** One refresh of a key running in this process. */
interface RefreshRun {
  promise: Promise<TokenRecord>;
  /** `delete` ran while it was in flight: it must neither save nor write. */
  deleted: boolean;
}

/**
 * A rotated set the endpoint handed out that the store could not take (it was
 * unreachable). The server has consumed the refresh token it replaced, so
 * this is the only live grant: it is served to this process, written as soon
 * as the store answers, and its refresh token is the one presented next.
 */
interface KeptSet {
  readonly record: ServedRecord;
  /** The tokens the refresh started from. */
  readonly from: TokenSet | undefined;
  /** The version the refresh started from (undefined: nothing was stored). */
  readonly basedOn: number | undefined;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A client-credentials identity the endpoint refused, and until when callers get that answer. */
interface Refusal {
  readonly error: unknown;
  readonly until: number;
  readonly inARow: number;
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
  readonly #hookTimeoutMs: number;
  readonly #refreshWindowMs: number;
  readonly #refreshJitter: number;
  readonly #queue: PQueue;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #fetch: typeof globalThis.fetch;

  /** One refresh per key in this process: later callers join the running one. */
  readonly #inflight = new Map<string, RefreshRun>();
  /**
   * Per key, the end of the chain of writes that run the `save` hook (`set`,
   * a refresh's save-then-write, `delete`): one at a time, so the hook sees
   * token sets in the order the store does and both end with the newest.
   */
  readonly #writes = new Map<string, Promise<unknown>>();
  /** Rotated sets the store could not take yet; never evicted (each is a live grant). */
  readonly #kept = new Map<string, KeptSet>();
  /** Keys whose background refresh failed recently, with when to try again. */
  readonly #backgroundRetryAt = new LRUCache<string, number>({ max: MAX_REMEMBERED_FAILURES });
  /** Client-credentials identities the endpoint refused recently. */
  readonly #refusals = new LRUCache<string, Refusal>({ max: MAX_REMEMBERED_FAILURES });

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
    this.#hookTimeoutMs = resolved.hookTimeoutMs;
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
      new SaveRetrier(
        save,
        (key, error, attempt) => this.emit('saveError', { key, error, attempt }),
        this.#random,
        resolved.hookTimeoutMs,
      );
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
    // It reads the store's local copy (no `fresh`): a usable token is served
    // even while the shared source is down or another holder has the lock.
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
   * was there (a corrupt record too), clearing a dead-grant mark, and running
   * the `save` hook. Racing writes of one key in this process take turns, so
   * the store and the `save` hook end with the same, newest, set.
   *
   * @throws TypeError when `key` or `tokens` is malformed; nothing is stored then.
   */
  async set(key: string, tokens: TokenSet): Promise<void> {
    assertKey(key);
    const clean = toTokenSet(tokens);
    const issuedAt = this.#now();
    this.#refusals.delete(key);
    const written = await this.#serially(key, async () => {
      await this.#saves?.save(key, clean);
      const landed = await this.#writeOver(key, (_current, version) => this.#recordFor(clean, version, issuedAt), true);
      // The new login supersedes a rotated set still waiting for the store,
      // once it is stored: until then the kept set is still the live grant.
      if (landed) this.#dropKept(key);
      return landed;
    });
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
   * got a 401 for the same token cause one refresh, not N. A refresh already
   * in flight is not undone: its rotated set replaces the invalidated record.
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

  /**
   * Forgets every token of `key` in the store (the `load` source is the app's
   * to clean, after this resolves). A refresh of the key in flight neither
   * saves nor writes its result; a `save` call already running is waited for
   * (at most `hookTimeoutMs`), so none lands after this resolves.
   */
  async delete(key: string): Promise<void> {
    assertKey(key);
    this.#backgroundRetryAt.delete(key);
    this.#refusals.delete(key);
    // In turn with this key's writes: a refresh already saving and writing
    // finishes first (and is deleted with the rest); a later one sees the mark.
    await this.#serially(key, async () => {
      const run = this.#inflight.get(key);
      if (run !== undefined) run.deleted = true;
      this.#saves?.cancel(key);
      await this.#saves?.settled(key);
      try {
        await this.#store.delete(key);
      } catch (error) {
        // Nothing was deleted: the refresh in flight and a kept set stay the
        // live grant, so they must still be written.
        if (run !== undefined) run.deleted = false;
        throw error;
      }
      this.#dropKept(key);
    });
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
   * Shuts down gracefully: starts no more background refreshes, waits for
   * every refresh in flight to store its tokens, and tries once more to
   * write rotated sets the store refused. Call it before closing the store
   * (and before the process exits): a refresh cut off after the server
   * rotated the refresh token would lose the new one, and the next refresh
   * would present the old one (reuse). Hooks are waited for at most
   * `hookTimeoutMs` each, so `close()` always resolves. Calls made afterwards
   * still work but only refresh when they must wait anyway.
   */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()].map((run) => run.promise));
    for (const [key, kept] of [...this.#kept]) {
      if (kept.timer !== undefined) clearTimeout(kept.timer);
      kept.timer = undefined;
      await this.#refresh(key, undefined, true).catch(() => {});
    }
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
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      // The newest grant is one the store has not taken yet: serve it (the
      // store's copy is older), and try to write it.
      const now = this.#now();
      if (options?.forceRefresh !== true && now < kept.record.usableUntil) {
        this.#hits++;
        this.#writeKeptSoon(key);
        return kept.record.tokens.accessToken;
      }
      return (await abortable(this.#refresh(key, kept.record.version, false), signal)).tokens.accessToken;
    }
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
   * stale (undefined: nothing stored, or any usable record will do).
   */
  #refresh(key: string, seenVersion: number | undefined, background: boolean): Promise<TokenRecord> {
    const running = this.#inflight.get(key);
    if (running !== undefined) {
      this.#coalesced++;
      return running.promise;
    }
    const run: RefreshRun = { promise: undefined as unknown as Promise<TokenRecord>, deleted: false };
    run.promise = this.#runRefresh(key, seenVersion, background, run);
    this.#inflight.set(key, run);
    const forget = (): void => {
      if (this.#inflight.get(key) === run) this.#inflight.delete(key);
    };
    run.promise.then(forget, forget);
    return run.promise;
  }

  async #runRefresh(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    run: RefreshRun,
  ): Promise<TokenRecord> {
    const startedAt = this.#now();
    try {
      const lock = await this.#store.lock?.(key);
      try {
        return await this.#refreshLocked(key, seenVersion, background, startedAt, run, lock?.lost);
      } finally {
        await lock?.release();
      }
    } catch (error) {
      this.#failures++;
      this.emit('refreshError', { key, error, background });
      throw error;
    }
  }

  /**
   * The body of a refresh, run while holding the key's lock (if the store
   * has locks). `lost` aborts when the store can no longer vouch for the
   * lock: from then on the refresh token is not presented.
   */
  async #refreshLocked(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    startedAt: number,
    run: RefreshRun,
    lost: AbortSignal | undefined,
  ): Promise<TokenRecord> {
    // Re-read the shared source after taking the lock: another process may have refreshed already.
    let current = await this.#store.get(key, FRESH);
    if (this.#kept.has(key)) current = await this.#serially(key, () => this.#writeKept(key, current));
    if (current === undefined && this.#load !== undefined) current = await this.#loadIntoStore(key);
    const clientCredentials = this.#grant === 'client_credentials';
    // A client-credentials identity is never dead: it has no refresh token to lose.
    if (current?.reauthenticationRequired && !clientCredentials) {
      throw new ReauthenticationRequiredError('invalid_grant', { key });
    }
    if (current !== undefined && current.version !== seenVersion && this.#now() < current.usableUntil) {
      return current;
    }
    if (clientCredentials) {
      const refusal = this.#refusals.get(key);
      if (refusal !== undefined && this.#now() < refusal.until) throw refusal.error;
    }
    if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');

    const issuedAt = this.#now();
    let tokens: TokenSet;
    try {
      tokens = await this.#obtainTokens(key, current, lost);
    } catch (error) {
      if (clientCredentials) {
        this.#rememberRefusal(key, error);
        throw error;
      }
      if (!(error instanceof ReauthenticationRequiredError) || current === undefined) throw error;
      return this.#afterRejectedGrant(key, current, error);
    }
    if (clientCredentials) this.#refusals.delete(key);

    const next = this.#recordFor(tokens, (current?.version ?? 0) + 1, issuedAt, this.#now() + MIN_USABLE_MS);
    return this.#serially(key, () => this.#commit(key, next, current, run, startedAt, background));
  }

  /**
   * Saves and writes a refresh's result. Saved before anyone can read it from
   * the store ("saved before used"). The write is a compare-and-set on the
   * version the refresh started from:
   * - it lands: done;
   * - a record holding the very tokens the refresh started from landed
   *   meanwhile (an `invalidate`, a dead mark): it is older than our result,
   *   whatever its version, so the result is rebased onto it. An
   *   invalidation never undoes a rotation;
   * - anything else landed (a new login, another process's rotation after our
   *   lock lapsed): it wins, and the save hook is made to agree with it;
   * - the store is unreachable: the result is kept (see {@link KeptSet}).
   */
  async #commit(
    key: string,
    result: ServedRecord,
    current: TokenRecord | undefined,
    run: RefreshRun,
    startedAt: number,
    background: boolean,
  ): Promise<TokenRecord> {
    if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');
    await this.#saves?.save(key, result.tokens);
    if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');
    let next = result;
    let base = current;
    for (let attempt = 0; ; attempt++) {
      let newer: TokenRecord | undefined;
      try {
        if (await this.#store.compareAndSet(key, next, base?.version)) break;
        newer = await this.#store.get(key, FRESH);
      } catch {
        // Unreachable (or failing in any other way): whether the write landed
        // is unknown, and the server has consumed the old refresh token. Keep
        // the result; a later compare-and-set settles it.
        this.#keep(key, next, current, base?.version);
        break;
      }
      if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');
      if (newer === undefined) throw this.#reauthenticationRequired(key, 'no_tokens');
      if (current !== undefined && sameTokens(newer.tokens, current.tokens) && attempt < MAX_WRITE_ATTEMPTS) {
        base = newer;
        next = { ...next, version: newer.version + 1 };
        continue;
      }
      if (newer.reauthenticationRequired) throw this.#reauthenticationRequired(key, 'invalid_grant');
      await this.#saves?.save(key, newer.tokens);
      return newer;
    }
    this.#refreshes++;
    this.emit('refresh', { key, durationMs: this.#now() - startedAt, background });
    return next;
  }

  async #obtainTokens(key: string, current: TokenRecord | undefined, lost: AbortSignal | undefined): Promise<TokenSet> {
    const endpoint = this.#endpointFor(key);
    // The lock's `lost` guards the queue wait and the call: a holder whose
    // lock lapsed must not present the refresh token another process may be
    // presenting now.
    const call = lost === undefined ? undefined : { signal: lost };
    let raw: TokenSet;
    let previousRefreshToken: string | undefined;
    try {
      if (lost?.aborted) throw lost.reason;
      if (this.#grant === 'client_credentials') {
        raw = await this.#queue.add(() => endpoint.clientCredentials(call), call);
      } else {
        if (current === undefined) throw this.#reauthenticationRequired(key, 'no_tokens');
        const refreshToken = current.tokens.refreshToken;
        if (refreshToken === undefined) throw this.#reauthenticationRequired(key, 'no_refresh_token');
        previousRefreshToken = refreshToken;
        raw = await this.#queue.add(() => endpoint.refresh(refreshToken, call), call);
      }
    } catch (error) {
      if (lost?.aborted) {
        throw new StoreUnavailableError(
          `The refresh lock for key \`${key}\` was lost before the token endpoint answered; not presenting the refresh token`,
          { cause: error },
        );
      }
      throw error;
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
    const latest = await this.#store.get(key, FRESH);
    if (latest !== undefined && latest.version !== rejected.version) {
      if (!latest.reauthenticationRequired && this.#now() < latest.usableUntil) return latest;
    } else if (latest !== undefined) {
      await this.#store.compareAndSet(key, unusable(latest, true), latest.version);
    }
    throw this.#reauthenticationRequired(key, 'invalid_grant', error);
  }

  /** Remembers that the endpoint refused a client-credentials identity, so callers back off. */
  #rememberRefusal(key: string, error: unknown): void {
    const refused =
      error instanceof TokenEndpointConfigurationError ||
      (error instanceof ReauthenticationRequiredError && error.reason === 'invalid_grant');
    if (!refused) return;
    const inARow = (this.#refusals.get(key)?.inARow ?? 0) + 1;
    const pause = Math.min(CLIENT_REFUSED_MAX_MS, CLIENT_REFUSED_MIN_MS * 2 ** (inARow - 1));
    this.#refusals.set(key, { error, until: this.#now() + pause, inARow });
  }

  /** Keeps a rotated set the store could not take, and schedules writing it. */
  #keep(key: string, record: ServedRecord, from: TokenRecord | undefined, basedOn: number | undefined): void {
    this.#dropKept(key);
    const kept: KeptSet = { record, from: from?.tokens, basedOn, attempt: 0, timer: undefined };
    this.#kept.set(key, kept);
    this.#scheduleKeptWrite(key, kept);
  }

  #dropKept(key: string): void {
    const kept = this.#kept.get(key);
    if (kept?.timer !== undefined) clearTimeout(kept.timer);
    this.#kept.delete(key);
  }

  #scheduleKeptWrite(key: string, kept: KeptSet): void {
    if (kept.timer !== undefined) return;
    const base = Math.min(KEPT_WRITE_MAX_MS, KEPT_WRITE_MIN_MS * 2 ** kept.attempt);
    kept.attempt += 1;
    kept.timer = setTimeout(
      () => {
        kept.timer = undefined;
        if (this.#kept.get(key) === kept) this.#writeKeptSoon(key);
      },
      base * (0.5 + this.#random() / 2),
    );
    unrefTimer(kept.timer);
  }

  /** Starts a background pass of the protocol, which writes the kept set first; retried until it lands. */
  #writeKeptSoon(key: string): void {
    if (this.#inflight.has(key)) return;
    const again = (): void => {
      const kept = this.#kept.get(key);
      if (kept !== undefined) this.#scheduleKeptWrite(key, kept);
    };
    this.#refresh(key, undefined, true).then(again, again);
  }

  /**
   * Writes the kept set of `key` over `current` (what the store holds now)
   * and resolves what the store holds afterwards. Run with the lock held.
   */
  async #writeKept(key: string, current: TokenRecord | undefined): Promise<TokenRecord | undefined> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const kept = this.#kept.get(key);
      if (kept === undefined) return current; // dropped meanwhile (set, delete)
      if (current === undefined && kept.basedOn !== undefined) {
        // The record it replaces is gone: the key was deleted (in another
        // process). A deleted key does not come back.
        this.#dropKept(key);
        return undefined;
      }
      if (current !== undefined && current.version !== kept.basedOn && !sameTokens(current.tokens, kept.from)) {
        // A newer grant landed (a new login): it wins; the save hook agrees with it again.
        this.#dropKept(key);
        await this.#saves?.save(key, current.tokens);
        return current;
      }
      const next: ServedRecord = { ...kept.record, version: (current?.version ?? 0) + 1 };
      if (await this.#store.compareAndSet(key, next, current?.version)) {
        if (this.#kept.get(key) === kept) this.#dropKept(key);
        // The hook may have seen a newer call meanwhile (a `set` the store refused): agree with the store again.
        await this.#saves?.save(key, next.tokens);
        return next;
      }
      current = await this.#store.get(key, FRESH);
    }
    return current;
  }

  async #loadIntoStore(key: string): Promise<TokenRecord | undefined> {
    const load = this.#load!;
    const loaded = await settleWithin(
      () => load(key),
      this.#hookTimeoutMs,
      () =>
        new StoreUnavailableError(
          `The \`load\` hook did not settle within ${this.#hookTimeoutMs} ms for key \`${key}\``,
        ),
    );
    if (loaded === undefined) return undefined;
    const record = this.#recordFor(toTokenSet(loaded, 'load(key) result'), 1, this.#now());
    if (await this.#store.compareAndSet(key, record, undefined)) return record;
    return this.#store.get(key, FRESH);
  }

  /** Runs `task` after every earlier write of `key` in this process has settled (see #writes). */
  #serially<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(key);
    const result = previous === undefined ? task() : previous.then(task, task);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#writes.set(key, tail);
    void tail.then(() => {
      if (this.#writes.get(key) === tail) this.#writes.delete(key);
    });
    return result;
  }

  /**
   * Writes the record `build` makes from the current one and the next
   * version, re-reading and retrying when another writer races. `build`
   * returns undefined to write nothing. Resolves whether a record was
   * written. With `overCorrupt`, a record the store cannot read is
   * overwritten: by compare-and-set on its stored version when that is
   * readable, else by deleting it first.
   */
  async #writeOver(
    key: string,
    build: (current: TokenRecord | undefined, version: number) => TokenRecord | undefined,
    overCorrupt = false,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      let current: TokenRecord | undefined;
      let expected: number | undefined;
      try {
        current = await this.#store.get(key, FRESH);
        expected = current?.version;
      } catch (error) {
        if (!overCorrupt || !(error instanceof CorruptRecordError)) throw error;
        if (error.storedVersion === undefined) await this.#store.delete(key);
        expected = error.storedVersion;
      }
      const next = build(current, (expected ?? 0) + 1);
      if (next === undefined) return false;
      if (await this.#store.compareAndSet(key, next, expected)) return true;
    }
    return false;
  }

  /**
   * A record for `tokens`. `usableFrom`, for sets from the endpoint, is the
   * least time they are served (see MIN_USABLE_MS); sets handed to `set` or
   * `load` are never served past their `expiresAt`.
   */
  #recordFor(tokens: TokenSet, version: number, issuedAt: number, usableFloor = -Infinity): ServedRecord {
    const expiresAt = tokens.expiresAt === undefined ? undefined : Math.max(tokens.expiresAt, usableFloor);
    const refreshAt = refreshAtFor({
      expiresAt,
      issuedAt,
      refreshWindowMs: this.#refreshWindowMs,
      jitter: this.#refreshJitter,
      random: this.#random(),
    });
    const usableUntil = expiresAt ?? Infinity;
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
