import type PQueue from 'p-queue';
import { LRUCache } from 'lru-cache';
import {
  CorruptRecordError,
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  TokenEndpointConfigurationError,
  type ReauthenticationReason,
} from './errors.js';
import { backoffDelay } from './backoff.js';
import { classifyFailure, FAILING_RETRY, type GrantFailure, type GrantState } from './grant-health.js';
import { sweepAtFor, type KeepAliveSchedule } from './keep-alive.js';
import { settleWithin } from './hook-timeout.js';
import { refreshAtFor } from './refresh-schedule.js';
import { withGrantLifecycle } from './refresh-token-lifetime.js';
import type { SaveRetrier } from './save-retrier.js';
import { SETTLED_TOKEN, unusable, type ServedRecord } from './served-record.js';
import type { CacheGrant, RefreshStep, TokenCacheEvents, TokenCacheOptions } from './token-cache-options.js';
import type { TokenEndpoint } from './token-endpoint.js';
import { toTokenSet, type TokenSet } from './token-set.js';
import type { MaybePromise, StoreLock, StoreReadOptions, TokenRecord, TokenStore } from './token-store.js';
import { settlementOf } from './typed-events.js';
import { unrefTimer } from './unref-timer.js';

/*
 * The refresh protocol of one cache, top-down: take the key's lock, re-read
 * the shared record, load on a miss, obtain tokens from the endpoint (unless
 * the lock was lost), save them, then compare-and-set (rebase onto an
 * invalidation, adopt a newer grant, or keep the set while the store is
 * unreachable), marking dead grants on `invalid_grant`. `set`, `invalidate`
 * and `delete` write through the same rules. Single flight in one process
 * and background-retry pacing stay in `TokenCache`, which calls `refresh`.
 */

/** Attempts at an unconditional write (`set`, `invalidate`) racing other writers. */
export const MAX_WRITE_ATTEMPTS = 8;

/**
 * Most keys whose failure this process remembers (a failed background
 * refresh's pause, a refused client-credentials identity's backoff): the
 * least recently failed are forgotten beyond it, so memory follows the
 * number of keys in use, as the default store's does, not every key ever seen.
 */
export const MAX_REMEMBERED_FAILURES = 10_000;

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
const CLIENT_REFUSED_BACKOFF = { baseMs: 5_000, maxMs: 300_000 };

/**
 * Pauses between attempts to write a rotated set the store refused (it was
 * unreachable). Short and capped at a second: the set must land as soon as
 * the store answers again, before another process that takes over the
 * key's lock gives up waiting for it (see TAKEOVER_GRACE_MS). One
 * compare-and-set per kept key per second is no load on a store.
 */
const KEPT_WRITE_BACKOFF = { baseMs: 250, maxMs: 1_000 };

/**
 * How long a process that took over a lock whose lease ran out unreleased
 * ({@link StoreLock.tookOver}) waits for the previous holder's kept set
 * before it presents the stored refresh token. The previous holder retries
 * its write at least every KEPT_WRITE_BACKOFF.maxMs (1 s) without needing
 * the lock; an attempt already in flight when the store came back may first
 * have to time out (the stores' default operation timeout is 2 s); one more
 * second of slack. A holder cut off from the store for longer than this
 * after the store answers others again is the residual window.
 */
export const TAKEOVER_GRACE_MS = 4_000;

/** How often the store is re-read during the takeover grace period. */
const TAKEOVER_POLL_MS = 100;

/** Reads the shared source itself; every protocol step that decides on the record reads this way. */
const FRESH: StoreReadOptions = Object.freeze({ fresh: true });

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', done);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Whether two token sets are the same grant state. A record that holds the
 * very tokens a refresh started from (invalidated or marked meanwhile) is
 * older than the refresh's result, whatever its version.
 */
function sameTokens(a: TokenSet, b: TokenSet | undefined): boolean {
  return b !== undefined && a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}

/** The health state `record` is in. */
function stateOf(record: TokenRecord): GrantState {
  return record.health?.state ?? (record.reauthenticationRequired ? 'dead' : 'healthy');
}

/** `record` without a keep-alive due time (a dead grant is never swept). */
function withoutSweep(record: TokenRecord): TokenRecord {
  if (record.sweepAt === undefined) return record;
  const { sweepAt: _sweepAt, ...rest } = record;
  return rest;
}

/** One refresh of a key running in this process. */
export interface RefreshRun {
  promise: Promise<TokenRecord>;
  /** `delete` ran while it was in flight: it must neither save nor write. */
  deleted: boolean;
  /** It obtained and stored a new set (false: it found a usable one, or failed). */
  refreshed?: boolean;
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
  /** A write attempt is running (one at a time). */
  writing: boolean;
  /**
   * The key's lock, held by this process from the refresh that kept the set
   * until the set is written (released by {@link RefreshProtocol.#dropKept}).
   * Released at once, it would tell the next taker nothing: that taker
   * would present the refresh token this set replaced. Held, it either stays
   * held until the write lands (the store answers) or lapses unreleased,
   * which the next taker learns from {@link StoreLock.tookOver}.
   */
  lock: StoreLock | undefined;
}

/** A client-credentials identity the endpoint refused, and until when callers get that answer. */
interface Refusal {
  readonly error: unknown;
  readonly until: number;
  readonly inARow: number;
}

/** What the protocol needs from its cache. */
export interface RefreshProtocolDeps {
  readonly store: TokenStore;
  readonly grant: CacheGrant;
  readonly endpointFor: (key: string) => TokenEndpoint;
  readonly queue: PQueue;
  readonly load: TokenCacheOptions['load'];
  readonly saves: SaveRetrier | undefined;
  readonly hookTimeoutMs: number;
  readonly refreshWindowMs: number;
  readonly refreshJitter: number;
  readonly keepAlive: KeepAliveSchedule;
  readonly now: () => number;
  readonly random: () => number;
  readonly emit: <Name extends keyof TokenCacheEvents>(name: Name, payload: TokenCacheEvents[Name]) => void;
  /** Whether anyone listens to `name`; payloads of tracing events are only made then. */
  readonly listening?: (name: keyof TokenCacheEvents) => boolean;
}

/** The locked refresh protocol and the writes that share its rules (see the comment at the top). */
export class RefreshProtocol {
  readonly #store: TokenStore;
  readonly #grant: CacheGrant;
  readonly #endpointFor: (key: string) => TokenEndpoint;
  readonly #queue: PQueue;
  readonly #load: TokenCacheOptions['load'];
  readonly #saves: SaveRetrier | undefined;
  readonly #hookTimeoutMs: number;
  readonly #refreshWindowMs: number;
  readonly #refreshJitter: number;
  readonly #keepAlive: KeepAliveSchedule;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #emit: RefreshProtocolDeps['emit'];
  readonly #listening: NonNullable<RefreshProtocolDeps['listening']>;

  /**
   * Per key, the end of the chain of writes that run the `save` hook (`set`,
   * a refresh's save-then-write, `delete`): one at a time, so the hook sees
   * token sets in the order the store does and both end with the newest.
   */
  readonly #writes = new Map<string, Promise<unknown>>();
  /** Rotated sets the store could not take yet; never evicted (each is a live grant). */
  readonly #kept = new Map<string, KeptSet>();
  /** Set at shutdown: kept sets get one last pass from the cache, no more timed attempts. */
  #keptWritesStopped = false;
  /** Client-credentials identities the endpoint refused recently. */
  readonly #refusals = new LRUCache<string, Refusal>({ max: MAX_REMEMBERED_FAILURES });
  #refreshes = 0;

  constructor(deps: RefreshProtocolDeps) {
    this.#store = deps.store;
    this.#grant = deps.grant;
    this.#endpointFor = deps.endpointFor;
    this.#queue = deps.queue;
    this.#load = deps.load;
    this.#saves = deps.saves;
    this.#hookTimeoutMs = deps.hookTimeoutMs;
    this.#refreshWindowMs = deps.refreshWindowMs;
    this.#refreshJitter = deps.refreshJitter;
    this.#keepAlive = deps.keepAlive;
    this.#now = deps.now;
    this.#random = deps.random;
    this.#emit = deps.emit;
    this.#listening = deps.listening ?? (() => false);
  }

  /** Token sets obtained and stored (or kept) so far. */
  get refreshes(): number {
    return this.#refreshes;
  }

  /** The rotated set of `key` the store has not taken yet, if any: the newest grant of the key. */
  keptRecord(key: string): ServedRecord | undefined {
    return this.#kept.get(key)?.record;
  }

  /** Stops the timers of every kept set and returns their keys, for one last write pass at shutdown. */
  stopKeptWrites(): string[] {
    this.#keptWritesStopped = true;
    for (const kept of this.#kept.values()) {
      if (kept.timer !== undefined) clearTimeout(kept.timer);
      kept.timer = undefined;
    }
    return [...this.#kept.keys()];
  }

  /**
   * One refresh of `key`: takes the lock (if the store has locks), runs the
   * protocol, releases the lock. `seenVersion` is the version the caller
   * found stale (undefined: nothing stored, or any usable record will do).
   */
  async refresh(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    run: RefreshRun,
  ): Promise<TokenRecord> {
    const startedAt = this.#now();
    const lock = await this.#lockFor(key);
    try {
      return await this.#refreshLocked(key, seenVersion, background, startedAt, run, lock?.lost, lock?.tookOver);
    } finally {
      const kept = this.#kept.get(key);
      if (lock !== undefined && kept !== undefined && kept.lock === undefined && !this.#keptWritesStopped) {
        // A set kept (now or before) and not yet written: hold the lock until it is (see KeptSet.lock).
        kept.lock = lock;
      } else {
        await lock?.release();
      }
    }
  }

  /**
   * The key's lock for a refresh: the one this process still holds for its
   * kept set, if it is not lost (taking it again would wait for ourselves),
   * else a new one from the store. The refresh owns it until it ends, so the
   * kept set's write landing meanwhile does not release it under the refresh.
   */
  async #lockFor(key: string): Promise<StoreLock | undefined> {
    const kept = this.#kept.get(key);
    const held = kept?.lock;
    if (held !== undefined) {
      kept!.lock = undefined;
      if (held.lost?.aborted !== true) return held;
      await held.release();
    }
    return this.#store.lock && (await this.#observed(key, 'lock', this.#store.lock(key)));
  }

  /** {@link TokenCache.set}, after validation: resolves whether the write landed. */
  set(key: string, tokens: TokenSet, issuedAt: number): Promise<boolean> {
    this.#refusals.delete(key);
    return this.#serially(key, async () => {
      await this.#saves?.save(key, tokens);
      let replaced: TokenRecord | undefined;
      const landed = await this.#writeOver(
        key,
        (current, version) => {
          replaced = current;
          return this.#recordFor(tokens, version, issuedAt);
        },
        true,
      );
      // A new login makes the grant healthy again.
      if (landed && replaced !== undefined) this.#announceRecovery(key, replaced);
      // The new login supersedes a rotated set still waiting for the store,
      // once it is stored: until then the kept set is still the live grant.
      if (landed) this.#dropKept(key);
      return landed;
    });
  }

  /** {@link TokenCache.invalidate}, after validation. */
  invalidate(key: string, token: string | undefined): Promise<boolean> {
    return this.#writeOver(key, (current) => {
      if (current === undefined || current.usableUntil === 0) return undefined;
      if (token !== undefined && current.tokens.accessToken !== token) return undefined;
      return unusable(current);
    });
  }

  /**
   * {@link TokenCache.delete}, after validation. `running` looks up the
   * refresh of the key in flight when the delete's turn comes.
   */
  delete(key: string, running: () => RefreshRun | undefined): Promise<void> {
    this.#refusals.delete(key);
    // In turn with this key's writes: a refresh already saving and writing
    // finishes first (and is deleted with the rest); a later one sees the mark.
    return this.#serially(key, async () => {
      const run = running();
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
   * The body of a refresh, run while holding the key's lock (if the store
   * has locks). `lost` aborts when the store can no longer vouch for the
   * lock: from then on the refresh token is not presented. `tookOver`: the
   * lock's previous lease ran out unreleased (see {@link StoreLock.tookOver}).
   */
  async #refreshLocked(
    key: string,
    seenVersion: number | undefined,
    background: boolean,
    startedAt: number,
    run: RefreshRun,
    lost: AbortSignal | undefined,
    tookOver = false,
  ): Promise<TokenRecord> {
    // Re-read the shared source after taking the lock: another process may have refreshed already.
    let current = await this.#store.get(key, FRESH);
    if (this.#kept.has(key)) current = await this.#serially(key, () => this.#writeKept(key, current));
    if (current === undefined && this.#load !== undefined) current = await this.#loadIntoStore(key);
    const clientCredentials = this.#grant === 'client_credentials';
    // A client-credentials identity has no refresh token another holder could have consumed.
    let waited = !tookOver || clientCredentials;
    for (;;) {
      // A client-credentials identity is never dead: it has no refresh token to lose.
      if (current?.reauthenticationRequired && !clientCredentials) {
        throw new ReauthenticationRequiredError('invalid_grant', { key });
      }
      if (current !== undefined && current.version !== seenVersion && this.#now() < current.usableUntil) {
        return current;
      }
      if (waited) break;
      // About to present the stored refresh token after a takeover: the
      // previous holder may have consumed it already, and be about to write
      // the set it got back. Give it the grace period; adopt what it writes.
      waited = true;
      const latest = await this.#awaitPreviousHolder(key, current, lost);
      if (latest === current) break;
      current = latest;
    }
    // A refresh token known to have expired is never presented (invariant 8).
    const refreshTokenExpiresAt = current?.tokens.refreshTokenExpiresAt;
    if (!clientCredentials && refreshTokenExpiresAt !== undefined && this.#now() >= refreshTokenExpiresAt) {
      const error = this.#reauthenticationRequired(key, 'refresh_token_expired');
      await this.#recordFailure(key, current!, error);
      throw error;
    }
    if (clientCredentials) {
      const refusal = this.#refusals.get(key);
      if (refusal !== undefined && this.#now() < refusal.until) throw refusal.error;
    }
    if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');

    const issuedAt = this.#now();
    let tokens: TokenSet;
    try {
      tokens = await this.#obtainTokens(key, current, lost, issuedAt);
    } catch (error) {
      if (clientCredentials) {
        this.#rememberRefusal(key, error);
        throw error;
      }
      const rotated = error instanceof InvalidTokenResponseError ? error.rotatedRefreshToken() : undefined;
      if (rotated !== undefined && current !== undefined)
        await this.#keepRotatedRefreshToken(key, current, rotated, run);
      if (current === undefined) throw error;
      if (!(error instanceof ReauthenticationRequiredError)) {
        // Transient (or at least not the grant's fault): failing, never dead.
        if (!run.deleted && rotated === undefined) await this.#recordFailure(key, current, error);
        throw error;
      }
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
    if (this.#saves !== undefined) await this.#observed(key, 'save', this.#saves.save(key, result.tokens));
    if (run.deleted) throw this.#reauthenticationRequired(key, 'no_tokens');
    let next = result;
    let base = current;
    for (let attempt = 0; ; attempt++) {
      let newer: TokenRecord | undefined;
      try {
        if (await this.#observed(key, 'store_write', this.#store.compareAndSet(key, next, base?.version))) break;
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
    run.refreshed = true;
    this.#emit('refresh', { key, durationMs: this.#now() - startedAt, background });
    if (base !== undefined) this.#announceRecovery(key, base);
    return next;
  }

  async #obtainTokens(
    key: string,
    current: TokenRecord | undefined,
    lost: AbortSignal | undefined,
    issuedAt: number,
  ): Promise<TokenSet> {
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
        raw = await this.#queue.add(() => this.#observed(key, 'endpoint', endpoint.clientCredentials(call)), call);
      } else {
        if (current === undefined) throw this.#reauthenticationRequired(key, 'no_tokens');
        const refreshToken = current.tokens.refreshToken;
        if (refreshToken === undefined) throw this.#reauthenticationRequired(key, 'no_refresh_token');
        previousRefreshToken = refreshToken;
        const options = { ...call, previous: current.tokens };
        raw = await this.#queue.add(
          () => this.#observed(key, 'endpoint', endpoint.refresh(refreshToken, options)),
          call,
        );
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
    if (current !== undefined && previousRefreshToken !== undefined) {
      // What a refresh response cannot say (the grant's end, fields it did
      // not repeat), carried from the set it replaces: OAuth2Endpoint does
      // this itself, a custom endpoint may not. Idempotent.
      tokens = withGrantLifecycle(tokens, {
        grantType: 'refresh_token',
        sentAt: issuedAt,
        previous: current.tokens,
        lifetime: undefined,
      });
    }
    // A response without a refresh token keeps the old one (RFC 6749 §6).
    if (tokens.refreshToken === undefined && previousRefreshToken !== undefined) {
      tokens = Object.freeze({ ...tokens, refreshToken: previousRefreshToken });
    }
    return tokens;
  }

  /**
   * The server answered 2xx with a new refresh token but an access token that
   * cannot be used: it has probably consumed the one we sent, so the new one
   * is stored (saved first) with the access token marked unusable, and the
   * next caller refreshes with it. Written only over the record the refresh
   * started from; anything newer wins. A store failure here is the caller's
   * error to see: the refresh already failed.
   */
  async #keepRotatedRefreshToken(key: string, from: TokenRecord, rotated: string, run: RefreshRun): Promise<void> {
    const tokens = Object.freeze({ ...from.tokens, refreshToken: rotated });
    await this.#serially(key, async () => {
      if (run.deleted) return;
      await this.#saves?.save(key, tokens);
      await this.#writeOver(key, (latest, version) =>
        latest !== undefined && sameTokens(latest.tokens, from.tokens)
          ? { ...unusable(latest), tokens, version }
          : undefined,
      );
    });
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
      const health = this.#failureAfter(latest, error);
      const dead: TokenRecord = { ...withoutSweep(unusable(latest, true)), health };
      if (await this.#store.compareAndSet(key, dead, latest.version)) this.#announceFailure(key, latest, health);
    }
    throw this.#reauthenticationRequired(key, 'invalid_grant', error);
  }

  /**
   * Stores the grant's new health after a failed refresh of `current`:
   * compare-and-set on its version, so it never rolls back tokens another
   * writer stored meanwhile (that writer's state wins). Best effort: a
   * failed health write never changes what the caller gets (the refresh's
   * own error). The transition is announced when the write landed, or when
   * the store could not be reached (then this process is the only witness).
   */
  async #recordFailure(key: string, current: TokenRecord, error: unknown): Promise<void> {
    if (this.#grant === 'client_credentials') return;
    const health = this.#failureAfter(current, error);
    const next: TokenRecord = {
      ...withoutSweep(current),
      version: current.version + 1,
      health,
      ...(health.nextAttemptAt !== undefined && { sweepAt: health.nextAttemptAt }),
    };
    let landed: boolean;
    try {
      landed = await this.#store.compareAndSet(key, next, current.version);
    } catch {
      landed = true;
    }
    if (landed) this.#announceFailure(key, current, health);
  }

  /** The health of `current`'s grant after `error`. */
  #failureAfter(current: TokenRecord, error: unknown): GrantFailure {
    const { state, code, oauthError } = classifyFailure(error);
    const now = this.#now();
    const failures = (current.health?.failures ?? 0) + 1;
    const nextAttemptAt =
      state === 'failing' ? now + Math.round(backoffDelay(failures, FAILING_RETRY, 'half', this.#random())) : undefined;
    return {
      state,
      code,
      ...(oauthError !== undefined && { oauthError }),
      since: current.health?.since ?? now,
      failures,
      ...(nextAttemptAt !== undefined && { nextAttemptAt }),
    };
  }

  #announceFailure(key: string, before: TokenRecord, health: GrantFailure): void {
    const previous = stateOf(before);
    if (previous === health.state) return;
    const payload = {
      key,
      state: health.state,
      previous,
      code: health.code,
      ...(health.oauthError !== undefined && { oauthError: health.oauthError }),
    };
    this.#emit(health.state === 'dead' ? 'grantDead' : 'grantFailing', payload);
  }

  #announceRecovery(key: string, before: TokenRecord): void {
    const previous = stateOf(before);
    if (previous !== 'healthy') this.#emit('grantRecovered', { key, state: 'healthy', previous });
  }

  #rememberRefusal(key: string, error: unknown): void {
    const refused =
      error instanceof TokenEndpointConfigurationError ||
      (error instanceof ReauthenticationRequiredError && error.reason === 'invalid_grant');
    if (!refused) return;
    const inARow = (this.#refusals.get(key)?.inARow ?? 0) + 1;
    const pause = backoffDelay(inARow, CLIENT_REFUSED_BACKOFF, 'none', 0);
    this.#refusals.set(key, { error, until: this.#now() + pause, inARow });
  }

  /**
   * After a takeover, re-reads `key` every TAKEOVER_POLL_MS for up to
   * TAKEOVER_GRACE_MS and resolves the first record whose version differs
   * from `current`'s (the previous holder's kept set, or any other write),
   * or `current` itself when none lands or the lock is lost meanwhile. A
   * read that fails is retried: the store may still be coming back.
   */
  async #awaitPreviousHolder(
    key: string,
    current: TokenRecord | undefined,
    lost: AbortSignal | undefined,
  ): Promise<TokenRecord | undefined> {
    // Counted rather than timed against `now`, so an injected clock that stands still cannot make it spin.
    for (let polls = Math.ceil(TAKEOVER_GRACE_MS / TAKEOVER_POLL_MS); polls > 0; polls--) {
      if (!(await pause(TAKEOVER_POLL_MS, lost))) return current;
      let latest: TokenRecord | undefined;
      try {
        latest = await this.#store.get(key, FRESH);
      } catch {
        continue;
      }
      if (latest?.version !== current?.version) return latest;
    }
    return current;
  }

  #keep(key: string, record: ServedRecord, from: TokenRecord | undefined, basedOn: number | undefined): void {
    // The lock (if one is held for an older kept set) now covers this one.
    const lock = this.#kept.get(key)?.lock;
    this.#dropKept(key, false);
    const kept: KeptSet = { record, from: from?.tokens, basedOn, attempt: 0, timer: undefined, writing: false, lock };
    this.#kept.set(key, kept);
    this.#scheduleKeptWrite(key, kept);
  }

  #dropKept(key: string, releaseLock = true): void {
    const kept = this.#kept.get(key);
    if (kept?.timer !== undefined) clearTimeout(kept.timer);
    if (releaseLock) void kept?.lock?.release();
    this.#kept.delete(key);
  }

  #scheduleKeptWrite(key: string, kept: KeptSet): void {
    if (kept.timer !== undefined || this.#keptWritesStopped) return;
    kept.attempt += 1;
    const delay = backoffDelay(kept.attempt, KEPT_WRITE_BACKOFF, 'half', this.#random());
    kept.timer = setTimeout(() => {
      kept.timer = undefined;
      if (this.#kept.get(key) === kept) this.#attemptKeptWrite(key, kept);
    }, delay);
    unrefTimer(kept.timer);
  }

  /**
   * Asks for the kept set of `key` to be written now (a caller was served
   * it), unless an attempt is running or already scheduled: hits never add
   * load on a store that is down.
   */
  writeKeptSoon(key: string): void {
    const kept = this.#kept.get(key);
    if (kept === undefined || kept.writing || kept.timer !== undefined || this.#keptWritesStopped) return;
    this.#attemptKeptWrite(key, kept);
  }

  /**
   * One attempt at writing `kept`, without the key's lock: the lease this
   * process held when it kept the set could not be released while the store
   * was down and may have run out, and waiting for the lock again would let
   * another holder present the consumed refresh token first. The write needs
   * no lock: {@link #writeKept} is a compare-and-set over the very record the
   * refresh started from, so it can never overwrite anything newer. Until it
   * lands, it is retried on the KEPT_WRITE_BACKOFF cadence.
   */
  #attemptKeptWrite(key: string, kept: KeptSet): void {
    kept.writing = true;
    const settled = (): void => {
      kept.writing = false;
      if (this.#kept.get(key) === kept) this.#scheduleKeptWrite(key, kept);
    };
    this.#serially(key, async () => this.#writeKept(key, await this.#store.get(key, FRESH))).then(settled, settled);
  }

  /**
   * Writes the kept set of `key` over `current` (what the store holds now)
   * and resolves what the store holds afterwards. Safe with or without the
   * lock (see {@link #attemptKeptWrite}).
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

  /** Reads `key` through `load` into the store (a keep-alive sweep over the app's keys), without refreshing. */
  loadRecord(key: string): Promise<TokenRecord | undefined> {
    return this.#load === undefined ? Promise.resolve(undefined) : this.#loadIntoStore(key);
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

  /** `work`, announced as a `refreshStep` of `key`'s refresh when someone listens (else untouched: no allocation). */
  #observed<T>(key: string, step: RefreshStep, work: MaybePromise<T>): MaybePromise<T> {
    if (!this.#listening('refreshStep')) return work;
    const promise = Promise.resolve(work);
    this.#emit('refreshStep', { key, step, settled: settlementOf(promise) });
    return promise;
  }

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
    const ownRefreshAt = refreshAtFor({
      expiresAt,
      issuedAt,
      refreshWindowMs: this.#refreshWindowMs,
      jitter: this.#refreshJitter,
      random: this.#random(),
    });
    // The provider's own hint (`refresh_in`) wins when it comes sooner.
    const refreshAt = Math.min(ownRefreshAt, tokens.suggestedRefreshAt ?? Infinity);
    const usableUntil = expiresAt ?? Infinity;
    const sweepAt = sweepAtFor(tokens, issuedAt, this.#keepAlive, this.#random());
    return {
      tokens,
      version,
      refreshAt,
      usableUntil,
      ...(sweepAt !== undefined && { sweepAt }),
      [SETTLED_TOKEN]: Promise.resolve(tokens.accessToken),
    };
  }

  #reauthenticationRequired(
    key: string,
    reason: ReauthenticationReason,
    cause?: ReauthenticationRequiredError,
  ): ReauthenticationRequiredError {
    this.#emit('reauthenticationRequired', { key, reason });
    return new ReauthenticationRequiredError(reason, {
      key,
      ...(cause && { cause, upstreamStatus: cause.upstreamStatus }),
    });
  }
}
