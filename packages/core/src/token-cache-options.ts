import type { GrantState } from './grant-health.js';
import type { TokenEndpoint } from './token-endpoint.js';
import type { TokenSet } from './token-set.js';
import type { TokenStore } from './token-store.js';

/** How a cache obtains tokens for a key it has none for. */
export type CacheGrant =
  /** User tokens: only refresh what was `set` or `load`ed; an unknown key needs re-authentication. */
  | 'refresh_token'
  /** Service identities: obtain tokens for any key by the client-credentials grant. */
  | 'client_credentials';

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  /**
   * The token endpoint, or a function choosing one per key (one OAuth client per tenant).
   * Required.
   */
  readonly endpoint: TokenEndpoint | ((key: string) => TokenEndpoint);
  /**
   * How tokens are obtained. A `refresh_token` cache never mints a service
   * token for an unknown user key.
   * @default 'refresh_token'
   */
  readonly grant?: CacheGrant;
  /**
   * Where records live.
   * @default new MemoryStore({ max: 10_000 })
   */
  readonly store?: TokenStore;
  /**
   * Origins (`https://api.example.com`) to which `cache.fetch` may send the
   * bearer. Requests anywhere else reject without being sent.
   * @default [] (nowhere)
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Refresh this long before expiry, in the background. Capped at half of
   * each token's lifetime.
   * Range: finite number >= 0.
   * @default 60_000
   */
  readonly refreshWindowMs?: number;
  /**
   * Fraction of the refresh window by which each record's refresh is randomly
   * delayed, so keys issued together do not refresh together.
   * Range: 0 to 1.
   * @default 0.2
   */
  readonly refreshJitter?: number;
  /**
   * Read-through on a store miss (after LRU eviction, or in a new process).
   * Return `undefined` when the key has no tokens.
   */
  readonly load?: (key: string) => Promise<TokenSet | undefined> | TokenSet | undefined;
  /**
   * Persists every new token set. Awaited before any caller receives the new
   * access token. On failure the tokens are still used, the save is retried
   * with backoff, and `saveError` is emitted.
   */
  readonly save?: (key: string, tokens: TokenSet) => Promise<void> | void;
  /**
   * Longest wait for one call of `load` or `save`. A hook that never settles
   * would otherwise hang its key, every caller behind it, and `close()`. A
   * `load` that overruns fails the refresh with `StoreUnavailableError`; a
   * `save` that overruns counts as a failed save (`saveError`, retried with
   * backoff). The hook itself is not cancelled: a late answer of an
   * overrunning `save` can still land after a newer one, so keep hooks
   * bounded themselves (a database statement timeout below this one).
   * Range: integer from 1 to 2^31 - 1.
   * @default 10_000
   */
  readonly hookTimeoutMs?: number;
  /**
   * Most token-endpoint calls in flight at once, across all keys.
   * Range: integer >= 1.
   * @default 8
   */
  readonly endpointConcurrency?: number;
  /**
   * Optional rate bound on token-endpoint calls: at most `limit` calls start
   * in any `intervalMs`.
   */
  readonly endpointRateLimit?: { readonly limit: number; readonly intervalMs: number };
  /**
   * The `fetch` used by `cache.fetch`.
   * @default globalThis.fetch
   */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Clock in ms since the epoch; inject one in tests instead of fake timers.
   * @default `Date.now`, read at most once every 10 ms (the hit path's costliest step otherwise)
   */
  readonly now?: () => number;
  /**
   * Random source in [0, 1) for jitter.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Keeps idle grants alive: runs {@link TokenCache.sweep} every `intervalMs`
   * (on an unref'd timer, stopped by `close()`). Without it, `sweep()` can
   * still be called by hand (from a cron job), with the defaults below.
   */
  readonly keepAlive?: KeepAliveOptions;
}

/** Options of keep-alive sweeps. */
export interface KeepAliveOptions {
  /**
   * Time between the starts of two sweeps, jittered by ±10 % so a fleet
   * started together does not sweep together. Required with `keepAlive`.
   * Range: integer from 1_000 to 2^31 - 1.
   */
  readonly intervalMs: number;
  /**
   * How long before its refresh token expires a grant is due: the larger of
   * this and a tenth of the refresh token's remaining life at its last
   * refresh, capped at half of that life (a refresh token that lives 30 min
   * is refreshed after 15, not on every sweep).
   * Range: finite number >= 0.
   * @default 3_600_000 (1 h)
   */
  readonly leadMs?: number;
  /**
   * A grant not refreshed for this long is due, whatever its refresh token
   * says: for providers whose refresh tokens die of idleness without saying
   * when (Microsoft: 90 days). Unset: only `refreshTokenExpiresAt` makes a
   * grant due.
   * Range: integer >= 1.
   */
  readonly idleMs?: number;
  /**
   * The keys to consider, for tokens kept only in the app's own database
   * (`load`/`save`, with a store that cannot list due keys). Called once per
   * sweep; each key's record is read (loaded on a miss) and refreshed only
   * when due. Without it, the store's `dueBefore` index is used.
   */
  readonly keys?: () => AsyncIterable<string> | Iterable<string>;
  /**
   * Most keys one sweep takes from the store's index (the rest are due
   * next time), and most refreshes a sweep has started at once; the
   * endpoint's own limits (`endpointConcurrency`, `endpointRateLimit`)
   * bound the calls.
   * Range: integer from 1 to 100_000.
   * @default 1_000
   */
  readonly batchSize?: number;
}

/** What one keep-alive sweep did. */
export interface SweepResult {
  /** Keys found due (listed by the index or `keys`, and due on re-reading). */
  readonly due: number;
  /** Due grants this process refreshed (or found refreshed by another process). */
  readonly refreshed: number;
  /** Due grants whose refresh failed (their health says how). */
  readonly failed: number;
  /** Keys listed but not refreshed: not due on re-reading, dead, gone, or unextendable. */
  readonly skipped: number;
}

/** Options of one `getAccessToken` call. */
export interface GetAccessTokenOptions {
  /** Stops this caller's wait (the shared refresh goes on for the others). Rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** Refresh even if the current token looks valid (still single-flight). */
  readonly forceRefresh?: boolean;
}

/** Counters since the cache was created. */
export interface TokenCacheStats {
  /** Calls answered from a stored, usable token (including those that started a background refresh). */
  readonly hits: number;
  /** Calls that found nothing stored for their key. */
  readonly misses: number;
  /** Token sets obtained from the endpoint. */
  readonly refreshes: number;
  /** Callers that joined a refresh already in flight instead of starting one. */
  readonly coalesced: number;
  /** Refreshes that failed. */
  readonly failures: number;
  /** Of the `hits`, those that found the token inside its refresh window (and started or joined a background refresh). */
  readonly refreshAheadHits: number;
}

/**
 * Why a refresh started: nothing stored (`miss`), the token expired or was
 * invalidated (after a 401), the caller forced it, a hit inside the refresh
 * window (`refresh_ahead`), a keep-alive sweep, or a retry of writing a
 * rotated set the store refused (`store_retry`).
 */
export type RefreshReason =
  'miss' | 'expired' | 'invalidated' | 'forced' | 'refresh_ahead' | 'keep_alive' | 'store_retry';

/** How an observed piece of work ended; `error` is there only when it failed. */
export type Settlement = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/**
 * How a refresh ended: `refreshed` is false when it obtained no new set because
 * a usable one was found (another process refreshed first, or a newer grant won).
 */
export type RefreshSettlement =
  { readonly ok: true; readonly refreshed: boolean } | { readonly ok: false; readonly error: unknown };

/** A step of a refresh, observed for tracing: the cross-process lock, the endpoint call, the `save` hook, the store write. */
export type RefreshStep = 'lock' | 'endpoint' | 'save' | 'store_write';

/** Payloads of the cache's events. None carries a token value. */
export interface TokenCacheEvents {
  /** A new token set was obtained and stored. */
  refresh: { readonly key: string; readonly durationMs: number; readonly background: boolean };
  /** A refresh failed; `error` is a typed refreshkit error (or the store's or endpoint's own). */
  refreshError: { readonly key: string; readonly error: unknown; readonly background: boolean };
  /** The key has no usable grant; the user must sign in again. */
  reauthenticationRequired: { readonly key: string; readonly reason: string };
  /** The `save` hook failed; it is retried with backoff until it succeeds or newer tokens supersede it. */
  saveError: { readonly key: string; readonly error: unknown; readonly attempt: number };
  /** The grant of `key` started failing transiently (network, 5xx, 429, store unreachable); it is retried. */
  grantFailing: GrantHealthEvent;
  /** The grant of `key` is dead (`invalid_grant`, refresh token expired, none at all): the user must sign in again. */
  grantDead: GrantHealthEvent;
  /** The grant of `key` is healthy again (a refresh succeeded, or new tokens were `set`). */
  grantRecovered: GrantHealthEvent;
  /** A keep-alive sweep finished. */
  sweep: SweepResult & { readonly durationMs: number };
  /**
   * A refresh of `key` started in this process (joining callers do not start
   * one). `settled` resolves when it ends and never rejects. For tracing:
   * emitted only while someone listens, never on a cache hit.
   */
  refreshStart: {
    readonly key: string;
    readonly reason: RefreshReason;
    readonly background: boolean;
    readonly settled: Promise<RefreshSettlement>;
  };
  /**
   * A step of the running refresh of `key` started; `settled` resolves when
   * it ends and never rejects. Emitted only while someone listens.
   */
  refreshStep: { readonly key: string; readonly step: RefreshStep; readonly settled: Promise<Settlement> };
  /**
   * A caller of `getAccessToken` (or `getTokenSet`, `fetch`) has to wait for
   * a refresh of `key`: it started one, or joined (`coalesced`) the one
   * running. `settled` resolves when this caller's wait ends (an abort is a
   * failure) and never rejects. Emitted only while someone listens.
   */
  waitStart: {
    readonly key: string;
    readonly reason: RefreshReason;
    readonly coalesced: boolean;
    readonly settled: Promise<Settlement>;
  };
  /** `cache.fetch` got a 401 to a request that carried the bearer, and retries once with a fresh token. */
  fetchRetry: { readonly key: string; readonly origin: string; readonly status: 401 };
}

/** Payload of the grant health events: codes and times, never a token. */
export interface GrantHealthEvent {
  readonly key: string;
  /** The state entered. */
  readonly state: GrantState;
  /** The state left. */
  readonly previous: GrantState;
  /** The failure's code (absent on recovery). */
  readonly code?: string;
  /** The OAuth error or re-authentication reason, when known. */
  readonly oauthError?: string;
}
