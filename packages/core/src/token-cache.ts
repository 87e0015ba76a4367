import { LRUCache } from 'lru-cache';
import PQueue from 'p-queue';
import { ACCESS_TOKEN_NOW } from './access-token-now.js';
import { abortable } from './abortable.js';
import { fetchWithBearer } from './bearer-fetch.js';
import { DPOP_PROVER_FOR, dpopResolver } from './dpop-binding.js';
import type { DpopProver } from './dpop-prover.js';
import { DpopProofRequiredError, StoreUnavailableError } from './errors.js';
import { healthOf, type GrantHealth } from './grant-health.js';
import { MemoryStore } from './memory-store.js';
import { MAX_REMEMBERED_FAILURES, MAX_WRITE_ATTEMPTS, RefreshProtocol, type RefreshRun } from './refresh-protocol.js';
import { SaveRetrier } from './save-retrier.js';
import { settledToken, type ServedRecord } from './served-record.js';
import type {
  GetAccessTokenOptions,
  RefreshReason,
  RefreshSettlement,
  TokenCacheEvents,
  TokenCacheOptions,
  TokenCacheStats,
  SweepResult,
} from './token-cache-options.js';
import { toTokenSet, type TokenSet } from './token-set.js';
import type { MaybePromise, TokenRecord, TokenStore } from './token-store.js';
import { settlementOf, TypedEvents } from './typed-events.js';
import { unrefTimer } from './unref-timer.js';
import { validateCacheOptions, type ResolvedKeepAlive } from './validate-cache-options.js';
import { assertKey } from './validate.js';

/**
 * After a background refresh fails, the next one for that key waits this
 * fraction of the token's remaining life (between the bounds below), so an
 * unreachable endpoint is not hammered by every hit in the refresh window.
 */
const BACKGROUND_RETRY_FRACTION = 0.25;
const BACKGROUND_RETRY_MIN_MS = 1_000;
const BACKGROUND_RETRY_MAX_MS = 30_000;

/** Marks a slow-path call whose caller has not read the store yet. */
const NOT_READ = Symbol('not read');

function accessTokenOf(record: TokenRecord): string {
  return record.tokens.accessToken;
}

/** Refreshes no caller waits for. */
function isBackground(reason: RefreshReason): boolean {
  return reason === 'refresh_ahead' || reason === 'keep_alive' || reason === 'store_retry';
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
  readonly #store: TokenStore;
  readonly #protocol: RefreshProtocol;
  readonly #queue: PQueue;
  readonly #now: () => number;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #fetch: typeof globalThis.fetch;
  /** The DPoP prover of a key's endpoint, if it has one (`cache.fetch` then sends proofs). */
  readonly #dpopFor: (key: string) => DpopProver | undefined;
  readonly #random: () => number;
  readonly #keepAlive: ResolvedKeepAlive;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  /** The sweep running now, if any: one at a time per cache. */
  #sweeping: Promise<SweepResult> | undefined;

  /** One refresh per key in this process: later callers join the running one. */
  readonly #inflight = new Map<string, RefreshRun>();
  /** Keys whose background refresh failed recently, with when to try again. */
  readonly #backgroundRetryAt = new LRUCache<string, number>({ max: MAX_REMEMBERED_FAILURES });

  #closed = false;
  #hits = 0;
  #misses = 0;
  #coalesced = 0;
  #failures = 0;
  #refreshAheadHits = 0;

  /**
   * @throws TypeError naming the option, when an option is invalid.
   */
  constructor(options: TokenCacheOptions) {
    super();
    const resolved = validateCacheOptions(options);
    const { endpoint } = resolved;
    this.#store = resolved.store ?? new MemoryStore();
    this.#now = resolved.now;
    this.#allowedOrigins = resolved.allowedOrigins;
    this.#fetch = resolved.fetch;
    this.#dpopFor = dpopResolver(endpoint);
    this.#random = resolved.random;
    this.#keepAlive = resolved.keepAlive;
    this.#queue = new PQueue({
      concurrency: resolved.endpointConcurrency,
      ...(resolved.endpointRateLimit && {
        intervalCap: resolved.endpointRateLimit.limit,
        interval: resolved.endpointRateLimit.intervalMs,
      }),
    });
    const save = resolved.save;
    const saves =
      save &&
      new SaveRetrier(
        save,
        (key, error, attempt) => this.emit('saveError', { key, error, attempt }),
        resolved.random,
        resolved.hookTimeoutMs,
      );
    this.#protocol = new RefreshProtocol({
      store: this.#store,
      grant: resolved.grant,
      endpointFor: typeof endpoint === 'function' ? endpoint : () => endpoint,
      queue: this.#queue,
      load: resolved.load,
      saves,
      hookTimeoutMs: resolved.hookTimeoutMs,
      refreshWindowMs: resolved.refreshWindowMs,
      refreshJitter: resolved.refreshJitter,
      keepAlive: resolved.keepAlive,
      now: resolved.now,
      random: resolved.random,
      emit: (name, payload) => this.emit(name, payload),
      listening: (name) => this.listenerCount(name) > 0,
    });
    this.#scheduleSweep();
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
    // The hit path (see #takeHit) allocates nothing for a record this cache
    // made: its token is a settled promise already (SETTLED_TOKEN in served-record.ts).
    if (options === undefined && typeof key === 'string') {
      const found = this.#store.get(key);
      if (this.#takeHit(key, found)) return settledToken(found);
      // Hand the read on: a second read would double the store's work, and a
      // dropped promise would reject unhandled.
      return this.#usableRecord(key, undefined, found).then(accessTokenOf);
    }
    return this.#usableRecord(key, options, NOT_READ).then(accessTokenOf);
  }

  /**
   * The hit path: whether `found` (one store read) is a usable record, to
   * be served as it is; if so the hit is counted. One clock read, no
   * closures, no allocation. Inside the refresh window the token is served
   * as directly, and a background refresh starts: it must not slow the
   * callers of its key. A pending (promise) read has no `refreshAt` or
   * `usableUntil`, so both comparisons are false and it goes to the slow
   * path with everything else that is not a hit. It reads the store's local
   * copy (no `fresh`): a usable token is served even while the shared source
   * is down or another holder has the lock.
   */
  #takeHit(key: string, found: MaybePromise<TokenRecord | undefined>): found is ServedRecord {
    if (found === undefined) return false;
    const now = this.#now();
    if (now < (found as ServedRecord).refreshAt) {
      this.#hits++;
      return true;
    }
    if (now < (found as ServedRecord).usableUntil) {
      this.#onHit(key, found as ServedRecord, now);
      return true;
    }
    return false;
  }

  /**
   * {@link getAccessToken} for the outbound client adapters, without the
   * promise on a hit; not public API (see `access-token-now.ts`). It reads
   * the store itself, so an override of `getAccessToken` is not consulted.
   */
  [ACCESS_TOKEN_NOW](key: string): string | Promise<string> {
    if (typeof key !== 'string') return this.getAccessToken(key);
    const found = this.#store.get(key);
    if (this.#takeHit(key, found)) return found.tokens.accessToken;
    return this.#usableRecord(key, undefined, found).then(accessTokenOf);
  }

  /**
   * Returns the fresh token set of `key`, by the same rules as
   * {@link getAccessToken}: the access token with everything the cache keeps
   * beside it (refresh token, expiry, scope, and the provider's own fields).
   * For an app that needs more than the bearer, such as a provider's
   * `instance_url`. The set is frozen; never log it.
   *
   * @throws ReauthenticationRequiredError when the key has no usable grant.
   * @throws TypeError when `key` is not a non-empty string.
   */
  async getTokenSet(key: string, options?: GetAccessTokenOptions): Promise<TokenSet> {
    return (await this.#usableRecord(key, options, NOT_READ)).tokens;
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
    const written = await this.#protocol.set(key, clean, this.#now());
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
    return this.#protocol.invalidate(key, token);
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
    await this.#protocol.delete(key, () => this.#inflight.get(key));
  }

  /**
   * `fetch` with the fresh bearer of `key`: only to `allowedOrigins`, never
   * across a redirect to another origin, and retried once with a new token
   * after a 401.
   *
   * @throws OriginNotAllowedError (before sending) for any other origin.
   */
  fetch(key: string, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const onRetry =
      this.listenerCount('fetchRetry') > 0
        ? (origin: string) => this.emit('fetchRetry', { key, origin, status: 401 })
        : undefined;
    return fetchWithBearer(this, key, this.#allowedOrigins, this.#fetch, input, init, this.#dpopFor(key), onRetry);
  }

  /** The DPoP prover of `key`'s endpoint, for the outbound client adapters; not public API. */
  [DPOP_PROVER_FOR](key: string): DpopProver | undefined {
    return this.#dpopFor(key);
  }

  /**
   * `Bearer <token>` for `key`, for callers that use another HTTP client.
   *
   * @throws DpopProofRequiredError when the key's token is DPoP-bound: its
   * proof names one request, so use `cache.fetch` or a client adapter.
   */
  async authorizationHeader(key: string, options?: GetAccessTokenOptions): Promise<string> {
    if (this.#dpopFor(key) === undefined) return `Bearer ${await this.getAccessToken(key, options)}`;
    const tokens = await this.getTokenSet(key, options);
    if (tokens.tokenType === 'dpop') throw new DpopProofRequiredError(key);
    return `Bearer ${tokens.accessToken}`;
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
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#sweeping?.catch(() => {});
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()].map((run) => run.promise));
    for (const key of this.#protocol.stopKeptWrites())
      await this.#refresh(key, undefined, 'store_retry').catch(() => {});
  }

  /**
   * The health of `key`'s grant, as stored with its record (so every
   * process sharing the store sees the same): `healthy`, `failing`
   * (transient failures, retried with backoff; an outage never makes a
   * grant dead) or `dead` (`invalid_grant`, refresh token expired, no
   * refresh token: the user must sign in again), with the last failure's
   * code and the grant's expiry times. Reads the shared store, not the hit
   * path's local copy. `undefined` when nothing is stored for `key`.
   *
   * @throws TypeError when `key` is not a non-empty string.
   */
  async health(key: string): Promise<GrantHealth | undefined> {
    assertKey(key);
    const record = await this.#store.get(key, { fresh: true });
    return record === undefined ? undefined : healthOf(record);
  }

  /**
   * One keep-alive pass: refreshes every grant that is due (its refresh
   * token is about to expire, it has been idle for `keepAlive.idleMs`, or it
   * is failing and its next attempt is due), found through the store's
   * `dueBefore` index or the `keepAlive.keys` the app lists. Each record is
   * re-read and refreshed through the same single flight, lock and endpoint
   * limits as any refresh, so several processes sweeping one shared store
   * refresh each key once: a process that takes the lock after another
   * refreshed the key finds the newer record and does not call the
   * endpoint. Dead grants, and grants whose refresh token lives as long as
   * the grant, are skipped. A sweep already running is joined. Emits `sweep`.
   *
   * @throws StoreUnavailableError when the store cannot list due keys.
   */
  sweep(): Promise<SweepResult> {
    this.#sweeping ??= this.#runSweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Counters since creation. */
  stats(): TokenCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      refreshes: this.#protocol.refreshes,
      coalesced: this.#coalesced,
      failures: this.#failures,
      refreshAheadHits: this.#refreshAheadHits,
    };
  }

  /** Token-endpoint calls running and queued right now. */
  get endpointLoad(): { readonly running: number; readonly queued: number } {
    return { running: this.#queue.pending, queued: this.#queue.size };
  }

  /** The slow path: a usable record of `key`, refreshed (or waited for) when it must be. */
  async #usableRecord(
    key: string,
    options: GetAccessTokenOptions | undefined,
    read: MaybePromise<TokenRecord | undefined> | typeof NOT_READ,
  ): Promise<TokenRecord> {
    if (read !== NOT_READ && isThenable(read)) read.catch(() => {}); // handled below, or moot if the key is bad
    assertKey(key);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const kept = this.#protocol.keptRecord(key);
    if (kept !== undefined) {
      // The newest grant is one the store has not taken yet: serve it (the
      // store's copy is older), and try to write it.
      const now = this.#now();
      if (options?.forceRefresh !== true && now < kept.usableUntil) {
        this.#hits++;
        this.#protocol.writeKeptSoon(key);
        return kept;
      }
      return this.#wait(key, kept.version, options?.forceRefresh === true ? 'forced' : 'expired', signal);
    }
    const record = await (read === NOT_READ ? this.#store.get(key) : read);
    if (record === undefined) {
      this.#misses++;
      return this.#wait(key, undefined, 'miss', signal);
    }
    const now = this.#now();
    // A dead grant has usableUntil 0, so it comes here too: the locked re-read
    // in #refreshLocked sees tokens another process `set` since, and never
    // calls the endpoint for a grant that is still dead.
    if (options?.forceRefresh !== true && now < record.usableUntil) {
      this.#onHit(key, record, now);
      return record;
    }
    return this.#wait(key, record.version, this.#reasonFor(record, options), signal);
  }

  /** Why a caller that found `record` not usable has to wait. */
  #reasonFor(record: TokenRecord, options: GetAccessTokenOptions | undefined): RefreshReason {
    if (options?.forceRefresh === true) return 'forced';
    return record.usableUntil === 0 && !record.reauthenticationRequired ? 'invalidated' : 'expired';
  }

  /** A caller waits for the refresh of `key` (starting one or joining the one running), announced by `waitStart`. */
  #wait(
    key: string,
    seenVersion: number | undefined,
    reason: RefreshReason,
    signal: AbortSignal | undefined,
  ): Promise<TokenRecord> {
    const coalesced = this.#inflight.has(key);
    const waited = abortable(this.#refresh(key, seenVersion, reason), signal);
    if (this.listenerCount('waitStart') > 0) {
      this.emit('waitStart', { key, reason, coalesced, settled: settlementOf(waited) });
    }
    return waited;
  }

  /** Counts a hit on a record that is still usable, and refreshes it in the background once inside the window. */
  #onHit(key: string, record: TokenRecord, now: number): void {
    this.#hits++;
    if (now >= record.refreshAt) {
      this.#refreshAheadHits++;
      this.#refreshInBackground(key, record, now);
    }
  }

  #refreshInBackground(key: string, seen: TokenRecord, now: number): void {
    if (this.#closed || this.#inflight.has(key)) return;
    const retryAt = this.#backgroundRetryAt.get(key);
    if (retryAt !== undefined && now < retryAt) return;
    this.#refresh(key, seen.version, 'refresh_ahead').then(
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
  #refresh(key: string, seenVersion: number | undefined, reason: RefreshReason): Promise<TokenRecord> {
    const running = this.#inflight.get(key);
    if (running !== undefined) {
      this.#coalesced++;
      return running.promise;
    }
    const background = isBackground(reason);
    const run: RefreshRun = { promise: undefined as unknown as Promise<TokenRecord>, deleted: false };
    // Announced before it runs, so that the steps it announces come after it.
    const settle = this.listenerCount('refreshStart') > 0 ? this.#announceRefresh(key, reason, background) : undefined;
    run.promise = this.#runRefresh(key, seenVersion, background, run);
    settle?.(run);
    this.#inflight.set(key, run);
    const forget = (): void => {
      if (this.#inflight.get(key) === run) this.#inflight.delete(key);
    };
    run.promise.then(forget, forget);
    return run.promise;
  }

  /** Emits `refreshStart`; the returned function settles its `settled` once `run` ends. */
  #announceRefresh(key: string, reason: RefreshReason, background: boolean): (run: RefreshRun) => void {
    let resolve!: (settlement: RefreshSettlement) => void;
    const settled = new Promise<RefreshSettlement>((r) => (resolve = r));
    this.emit('refreshStart', { key, reason, background, settled });
    return (run) =>
      run.promise.then(
        () => resolve({ ok: true, refreshed: run.refreshed === true }),
        (error: unknown) => resolve({ ok: false, error }),
      );
  }

  /** Arms the next periodic sweep, jittered by ±10 % so a fleet started together spreads out. */
  #scheduleSweep(): void {
    const interval = this.#keepAlive.intervalMs;
    if (interval === undefined || this.#closed) return;
    const delay = Math.round(interval * (0.9 + 0.2 * this.#random()));
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = undefined;
      const again = (): void => this.#scheduleSweep();
      // A failed listing (store unreachable) is retried next interval.
      this.sweep().then(again, again);
    }, delay);
    unrefTimer(this.#sweepTimer);
  }

  async #runSweep(): Promise<SweepResult> {
    const startedAt = this.#now();
    const { keys, batchSize } = this.#keepAlive;
    let listed: AsyncIterable<string> | Iterable<string>;
    if (keys !== undefined) listed = keys();
    else if (this.#store.dueBefore !== undefined) listed = await this.#store.dueBefore(startedAt, batchSize);
    else
      throw new TypeError('Expected `keepAlive.keys` to be a function listing keys, since `store` has no `dueBefore`');
    const counts = { due: 0, refreshed: 0, failed: 0, skipped: 0 };
    const running = new Set<Promise<void>>();
    for await (const key of listed) {
      if (this.#closed) break;
      const task = this.#sweepKey(key, startedAt).then((outcome) => {
        if (outcome !== 'skipped') counts.due++;
        counts[outcome]++;
        running.delete(task);
      });
      running.add(task);
      if (running.size >= batchSize) await Promise.race(running);
    }
    await Promise.all(running);
    const result: SweepResult = { ...counts };
    this.emit('sweep', { ...result, durationMs: this.#now() - startedAt });
    return result;
  }

  /** Refreshes `key` if it is due at `now`; never throws (a failure is counted and recorded as the grant's health). */
  async #sweepKey(key: string, now: number): Promise<'refreshed' | 'failed' | 'skipped'> {
    try {
      assertKey(key);
      let record = await this.#store.get(key, { fresh: true });
      let due = record?.sweepAt !== undefined && record.sweepAt <= now;
      if (record === undefined && this.#keepAlive.keys !== undefined) {
        // Only the app's own database holds it. Its record's due time counts
        // from now (when it was issued is unknown), so the refresh token's
        // end decides: due within the lead, unless it cannot be extended.
        record = await this.#protocol.loadRecord(key);
        const end = record?.tokens.refreshTokenExpiresAt;
        due ||= end !== undefined && end !== record!.tokens.grantExpiresAt && end - this.#keepAlive.leadMs <= now;
      }
      if (record === undefined || record.reauthenticationRequired || record.health?.state === 'dead') return 'skipped';
      if (!due || record.tokens.refreshToken === undefined) return 'skipped';
      await this.#refresh(key, record.version, 'keep_alive');
      return 'refreshed';
    } catch {
      return 'failed';
    }
  }

  async #runRefresh(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    run: RefreshRun,
  ): Promise<TokenRecord> {
    try {
      return await this.#protocol.refresh(key, seenVersion, background, run);
    } catch (error) {
      this.#failures++;
      this.emit('refreshError', { key, error, background });
      throw error;
    }
  }
}
