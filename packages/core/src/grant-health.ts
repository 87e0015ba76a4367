import { ReauthenticationRequiredError } from './errors.js';
import type { TokenRecord } from './token-store.js';

/** Where a grant stands: usable, failing transiently (retried), or dead (needs a new login). */
export type GrantState = 'healthy' | 'failing' | 'dead';

/**
 * The failure part of a grant's health, stored with its record so every
 * process sees the same state. Holds codes and times only, never an error
 * message (which could quote a token) and never a token.
 */
export interface GrantFailure {
  /** `failing`: transient (network, 5xx, 429, store unreachable), retried; `dead`: the grant cannot be refreshed. */
  readonly state: 'failing' | 'dead';
  /** The last failure's stable code: a refreshkit error `code` (`ERR_TOKEN_ENDPOINT_UNAVAILABLE`), else `ERR_UNKNOWN`. */
  readonly code: string;
  /** The OAuth `error` string (`invalid_grant`) or the re-authentication reason (`refresh_token_expired`), when known. */
  readonly oauthError?: string;
  /** When the grant left `healthy` (ms epoch): the first failure of this run. */
  readonly since: number;
  /** Failures in a row. */
  readonly failures: number;
  /** When the next attempt is due (ms epoch), for a failing grant retried by keep-alive sweeps. */
  readonly nextAttemptAt?: number;
}

/** What `cache.health(key)` answers. */
export interface GrantHealth {
  /** See {@link GrantState}. */
  readonly state: GrantState;
  /** The last failure's code; absent when healthy. */
  readonly code?: string;
  /** The OAuth error (or re-authentication reason) of the last failure, when known. */
  readonly oauthError?: string;
  /** When the grant started failing (ms epoch); absent when healthy. */
  readonly since?: number;
  /** Failures in a row; 0 when healthy. */
  readonly failures: number;
  /** When the next attempt is due (ms epoch), when known. */
  readonly nextAttemptAt?: number;
  /** When the access token expires (ms epoch), when known. */
  readonly expiresAt?: number;
  /** When the refresh token expires (ms epoch), when known. */
  readonly refreshTokenExpiresAt?: number;
  /** When the grant ends whatever is refreshed (ms epoch), when known. */
  readonly grantExpiresAt?: number;
}

/** Backoff of a failing grant's next attempt by keep-alive sweeps. */
export const FAILING_RETRY = { baseMs: 30_000, maxMs: 3_600_000 };

/**
 * The code and OAuth error of `error`, safe to store and to show: codes only.
 * `dead` when the failure says the grant itself is gone.
 */
export function classifyFailure(error: unknown): { state: 'failing' | 'dead'; code: string; oauthError?: string } {
  if (error instanceof ReauthenticationRequiredError) {
    return { state: 'dead', code: error.code, oauthError: error.reason };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const oauthError = (error as { oauthError?: unknown } | null)?.oauthError;
  return {
    state: 'failing',
    // Only refreshkit codes and short identifier-like codes (`ECONNRESET`) are kept.
    code: typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'ERR_UNKNOWN',
    ...(typeof oauthError === 'string' && /^[\x21-\x7e]{1,64}$/.test(oauthError) && { oauthError }),
  };
}

/** The health of `record`, as `cache.health` answers it. */
export function healthOf(record: TokenRecord): GrantHealth {
  const { expiresAt, refreshTokenExpiresAt, grantExpiresAt } = record.tokens;
  const times = {
    ...(expiresAt !== undefined && { expiresAt }),
    ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
    ...(grantExpiresAt !== undefined && { grantExpiresAt }),
  };
  const failure = record.health;
  if (failure === undefined) {
    // A dead mark written before health was stored with records.
    if (record.reauthenticationRequired) {
      return {
        state: 'dead',
        code: 'ERR_REAUTHENTICATION_REQUIRED',
        oauthError: 'invalid_grant',
        failures: 1,
        ...times,
      };
    }
    return { state: 'healthy', failures: 0, ...times };
  }
  return { ...failure, ...times };
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * Whether `value` is a grant health as the cache writes it, for stores that
 * read one back from storage they do not trust (records written before
 * health existed have none).
 */
export function isGrantFailure(value: unknown): value is GrantFailure {
  const h = value as Partial<GrantFailure> | null;
  return (
    typeof h === 'object' &&
    h !== null &&
    (h.state === 'failing' || h.state === 'dead') &&
    typeof h.code === 'string' &&
    (h.oauthError === undefined || typeof h.oauthError === 'string') &&
    isTime(h.since) &&
    isTime(h.failures) &&
    (h.nextAttemptAt === undefined || isTime(h.nextAttemptAt))
  );
}
