/**
 * Refresh-token lifetimes a client knows from its provider's documentation
 * when the token endpoint does not say (`refresh_token_expires_in` absent):
 * an idle (sliding) lifetime renewed by each refresh, and an absolute one
 * counted from sign-in that no refresh extends.
 */
import { mergeExtras } from './token-extras.js';
import type { TokenSet } from './token-set.js';
import { assertIntegerInRange, assertObject } from './validate.js';

/** Refresh-token lifetimes configured on an `OAuth2Endpoint`. */
export interface RefreshTokenLifetime {
  /**
   * Sliding lifetime: a refresh token unused this long is dead (Microsoft: 90
   * days; Xero: 60 days). Renewed by every successful refresh. Used only when
   * the server does not state the refresh token's lifetime.
   * Range: integer from 1_000 to 315_360_000_000 (ten years).
   */
  readonly idleMs?: number;
  /**
   * Absolute lifetime: the grant ends this long after the code exchange
   * however often it is refreshed (Google apps in testing: 7 days). Recorded
   * as `grantExpiresAt` by `authorizationCode` and carried by `refresh`
   * through `options.previous`; caps `refreshTokenExpiresAt`, whatever the
   * server states.
   * Range: integer from 1_000 to 315_360_000_000 (ten years).
   */
  readonly absoluteMs?: number;
}

/** Ten years, the longest lifetime believed anywhere in refreshkit. */
const MAX_LIFETIME_MS = 315_360_000_000;

/** Validates {@link RefreshTokenLifetime}; returns a copy the caller cannot change later. */
export function validateRefreshTokenLifetime(value: unknown): RefreshTokenLifetime {
  assertObject('refreshTokenLifetime', value);
  for (const name of Object.keys(value)) {
    if (name !== 'idleMs' && name !== 'absoluteMs') {
      throw new TypeError(
        `Unexpected \`refreshTokenLifetime.${name.slice(0, 64)}\`: the lifetimes are \`idleMs\` (sliding, renewed by each refresh) and \`absoluteMs\` (from sign-in)`,
      );
    }
  }
  const lifetime: { idleMs?: number; absoluteMs?: number } = {};
  for (const name of ['idleMs', 'absoluteMs'] as const) {
    if (value[name] === undefined) continue;
    assertIntegerInRange(`refreshTokenLifetime.${name}`, value[name], 1_000, MAX_LIFETIME_MS);
    lifetime[name] = value[name];
  }
  return Object.freeze(lifetime);
}

/** What {@link withGrantLifecycle} needs besides the parsed set. */
export interface GrantLifecycleContext {
  /** The grant that produced the set. */
  readonly grantType: 'authorization_code' | 'refresh_token' | 'client_credentials';
  /** When the request was sent (ms epoch): lifetimes count from here. */
  readonly sentAt: number;
  /** The set whose refresh token was presented (refresh only), when the caller passed it. */
  readonly previous: TokenSet | undefined;
  /** The endpoint's configured lifetimes. */
  readonly lifetime: RefreshTokenLifetime | undefined;
}

/**
 * Completes a parsed token set with what the response alone cannot say:
 *
 * - `grantExpiresAt`: from `absoluteMs` at the code exchange; carried from
 *   `previous` on refresh (unknown without it: the grant's start is not in a
 *   refresh response).
 * - `refreshTokenExpiresAt`: the server's statement, else `sentAt + idleMs`,
 *   else, when the server did not rotate the refresh token, the previous
 *   one's expiry; never later than `grantExpiresAt`.
 * - `extras` (refresh): merged over `previous.extras`, since a refresh
 *   response often repeats only some of the sign-in's fields.
 */
export function withGrantLifecycle(tokens: TokenSet, context: GrantLifecycleContext): TokenSet {
  const { grantType, sentAt, previous, lifetime } = context;
  if (grantType === 'client_credentials') return tokens;
  const refreshing = grantType === 'refresh_token';
  const grantExpiresAt =
    grantType === 'authorization_code'
      ? lifetime?.absoluteMs === undefined
        ? undefined
        : sentAt + lifetime.absoluteMs
      : previous?.grantExpiresAt;
  let refreshTokenExpiresAt =
    tokens.refreshTokenExpiresAt ??
    (lifetime?.idleMs === undefined ? undefined : sentAt + lifetime.idleMs) ??
    (refreshing && tokens.refreshToken === undefined ? previous?.refreshTokenExpiresAt : undefined);
  if (grantExpiresAt !== undefined) {
    refreshTokenExpiresAt = Math.min(refreshTokenExpiresAt ?? Infinity, grantExpiresAt);
  }
  const extras = refreshing ? mergeExtras(previous?.extras, tokens.extras) : tokens.extras;
  const completed: { -readonly [K in keyof TokenSet]: TokenSet[K] } = { ...tokens };
  if (refreshTokenExpiresAt !== undefined) completed.refreshTokenExpiresAt = refreshTokenExpiresAt;
  if (grantExpiresAt !== undefined) completed.grantExpiresAt = grantExpiresAt;
  if (extras !== undefined) completed.extras = extras;
  return Object.freeze(completed);
}
