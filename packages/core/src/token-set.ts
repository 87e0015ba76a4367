import { toExtras, type TokenExtras } from './token-extras.js';
import { isValidTokenValue, TOKEN_SYNTAX_DESCRIPTION } from './token-syntax.js';
import { assertNonEmptyString, assertObject, invalid } from './validate.js';

/**
 * The tokens refreshkit keeps for one key. Domain names are camelCase; the
 * wire's snake_case never leaks past the token-response parser.
 */
export interface TokenSet {
  /** The bearer sent to APIs. */
  readonly accessToken: string;
  /** Used to obtain the next access token; absent for client-credentials grants. */
  readonly refreshToken?: string;
  /** When the access token expires, in ms since the epoch; absent when unknown (valid until a 401). */
  readonly expiresAt?: number;
  /** Space-delimited scopes granted, as the server reported them. */
  readonly scope?: string;
  /** Token type, normalised to lower case (`bearer`, or `dpop` for a DPoP-bound token). */
  readonly tokenType?: string;
  /**
   * For a DPoP-bound token (`tokenType: 'dpop'`): the thumbprint (RFC 7638,
   * the `jkt`) of the key it is bound to, recorded when it was issued, so a
   * process holding another key refuses it with `DpopKeyMismatchError`
   * instead of sending a proof that cannot match. Public (a hash of a public key).
   */
  readonly dpopJkt?: string;
  /**
   * When the refresh token expires, in ms since the epoch; absent when
   * unknown. From the server (`refresh_token_expires_in`,
   * `x_refresh_token_expires_in`, `refresh_expires_in`, camelCase
   * spellings), counted from when the request was sent, else from
   * `OAuth2Endpoint`'s `refreshTokenLifetime`; never later than
   * `grantExpiresAt`. A grant past it cannot be refreshed: the user must
   * sign in again.
   */
  readonly refreshTokenExpiresAt?: number;
  /**
   * When the grant ends however often it is refreshed (an absolute
   * refresh-token lifetime counted from sign-in), in ms since the epoch;
   * absent when unknown. Set by `OAuth2Endpoint.authorizationCode` from
   * `refreshTokenLifetime.absoluteMs` and carried from set to set, since a
   * refresh response cannot tell when the grant began.
   */
  readonly grantExpiresAt?: number;
  /**
   * When the server suggests refreshing, in ms since the epoch (Microsoft's
   * `refresh_in`): earlier than expiry, so a token the server wants replaced
   * (key rotation, policy change) is. Advisory: the cache refreshes at the
   * earlier of this and its own refresh time.
   */
  readonly suggestedRefreshAt?: number;
  /**
   * The token response's other fields, wire names as the provider sent them
   * (Salesforce's `instance_url`, OpenID Connect's `id_token`, Slack's
   * `authed_user` and `team`). Plain JSON of at most 16 KiB, deep frozen.
   * Some are credentials (`id_token`): treat the token set as secret whole.
   */
  readonly extras?: TokenExtras;
}

/**
 * Below this an `expiresAt` is plainly seconds, not milliseconds, since the
 * epoch: 10^11 ms is March 1973, 10^11 s is the year 5138.
 */
const EARLIEST_EXPIRES_AT_MS = 1e11;

/**
 * Wire (or other-dialect) names that a caller may pass by mistake, with the
 * field meant. Only names whose value would be wrong if simply moved (relative
 * seconds where an epoch is meant, snake_case for a camelCase field) are
 * refused; other unknown fields (`id_token` in an app's own row) are dropped
 * as before, so an existing `load` keeps working.
 */
const MISTAKEN_FIELDS: Readonly<Record<string, string>> = {
  access_token: '`accessToken`',
  refresh_token: '`refreshToken`',
  token_type: '`tokenType`',
  expires_in: '`expiresAt` (ms since the epoch: `Date.now() + expires_in * 1000`)',
  expiresIn: '`expiresAt` (ms since the epoch: `Date.now() + expiresIn * 1000`)',
  expires_at: '`expiresAt` in ms since the epoch',
  refresh_token_expires_in:
    '`refreshTokenExpiresAt` (ms since the epoch: `Date.now() + refresh_token_expires_in * 1000`)',
  x_refresh_token_expires_in:
    '`refreshTokenExpiresAt` (ms since the epoch: `Date.now() + x_refresh_token_expires_in * 1000`)',
  refreshTokenExpiresIn: '`refreshTokenExpiresAt` (ms since the epoch: `Date.now() + refreshTokenExpiresIn * 1000`)',
  refresh_in: '`suggestedRefreshAt` (ms since the epoch: `Date.now() + refresh_in * 1000`)',
};

/** The ms-epoch fields of a token set besides `expiresAt`. */
const EPOCH_FIELDS = ['refreshTokenExpiresAt', 'grantExpiresAt', 'suggestedRefreshAt'] as const;

/** Asserts a token value: a non-empty string of the characters tokens may hold (token-syntax.ts). */
function assertTokenValue(name: string, value: unknown): asserts value is string {
  assertNonEmptyString(name, value, true);
  if (!isValidTokenValue(value)) {
    throw new TypeError(
      `Expected \`${name}\` to hold ${TOKEN_SYNTAX_DESCRIPTION}, got a string that does not (not shown)`,
    );
  }
}

/** Asserts a time in ms since the epoch, telling seconds apart (a common slip) from ms. */
function assertEpochMs(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(name, 'a finite number of ms since the epoch', value);
  }
  if (value < EARLIEST_EXPIRES_AT_MS) {
    throw invalid(name, 'ms since the epoch (this looks like seconds: multiply by 1000)', value);
  }
}

/**
 * Checks a caller-supplied token set (from `set`, `load`, or a custom
 * endpoint) and returns a frozen copy holding only the known fields (and a
 * deep frozen copy of `extras`), so nothing the caller mutates later can
 * change what is stored. Other unknown fields are dropped: provider fields
 * belong in `extras`.
 *
 * @throws TypeError naming the bad field; token values are never shown.
 */
export function toTokenSet(value: unknown, name = 'tokens'): TokenSet {
  assertObject(name, value);
  for (const mistaken of Object.keys(MISTAKEN_FIELDS)) {
    if (Object.hasOwn(value, mistaken)) {
      throw new TypeError(
        `Unexpected \`${name}.${mistaken}\`: a TokenSet names it ${MISTAKEN_FIELDS[mistaken]}. (A raw token response is read by OAuth2Endpoint, which converts it.)`,
      );
    }
  }
  const { accessToken, refreshToken, expiresAt, scope, tokenType, dpopJkt, extras } = value;
  assertTokenValue(`${name}.accessToken`, accessToken);
  if (refreshToken !== undefined) assertTokenValue(`${name}.refreshToken`, refreshToken);
  if (expiresAt !== undefined) assertEpochMs(`${name}.expiresAt`, expiresAt);
  for (const field of EPOCH_FIELDS) if (value[field] !== undefined) assertEpochMs(`${name}.${field}`, value[field]);
  if (scope !== undefined && typeof scope !== 'string') throw invalid(`${name}.scope`, 'a string', scope);
  if (tokenType !== undefined && typeof tokenType !== 'string')
    throw invalid(`${name}.tokenType`, 'a string', tokenType);
  if (dpopJkt !== undefined && (typeof dpopJkt !== 'string' || !/^[\w-]{43}$/.test(dpopJkt)))
    throw invalid(`${name}.dpopJkt`, 'a base64url SHA-256 thumbprint (43 characters)', dpopJkt);
  const checkedExtras = extras === undefined ? undefined : toExtras(extras, `${name}.extras`);
  const tokens: { -readonly [K in keyof TokenSet]: TokenSet[K] } = { accessToken };
  if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  if (scope !== undefined) tokens.scope = scope;
  if (tokenType !== undefined) tokens.tokenType = tokenType.toLowerCase();
  if (dpopJkt !== undefined) tokens.dpopJkt = dpopJkt;
  for (const field of EPOCH_FIELDS) if (value[field] !== undefined) tokens[field] = value[field] as number;
  if (checkedExtras !== undefined) tokens.extras = checkedExtras;
  return Object.freeze(tokens);
}
