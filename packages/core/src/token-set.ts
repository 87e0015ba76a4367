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
  /** Token type, normalised to lower case (`bearer`). */
  readonly tokenType?: string;
}

/**
 * Below this an `expiresAt` is plainly seconds, not milliseconds, since the
 * epoch: 10^11 ms is March 1973, 10^11 s is the year 5138.
 */
const EARLIEST_EXPIRES_AT_MS = 1e11;

/** Wire (or other-dialect) names that a caller may pass by mistake, with the field meant. */
const MISTAKEN_FIELDS: Readonly<Record<string, string>> = {
  access_token: '`accessToken`',
  refresh_token: '`refreshToken`',
  token_type: '`tokenType`',
  expires_in: '`expiresAt` (ms since the epoch: `Date.now() + expires_in * 1000`)',
  expiresIn: '`expiresAt` (ms since the epoch: `Date.now() + expiresIn * 1000`)',
  expires_at: '`expiresAt` in ms since the epoch',
};

/** Asserts a token value: a non-empty string of the characters tokens may hold (token-syntax.ts). */
function assertTokenValue(name: string, value: unknown): asserts value is string {
  assertNonEmptyString(name, value, true);
  if (!isValidTokenValue(value)) {
    throw new TypeError(
      `Expected \`${name}\` to hold ${TOKEN_SYNTAX_DESCRIPTION}, got a string that does not (not shown)`,
    );
  }
}

/**
 * Checks a caller-supplied token set (from `set`, `load`, or a custom
 * endpoint) and returns a frozen copy holding only the known fields, so
 * nothing the caller mutates later can change what is stored.
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
  const { accessToken, refreshToken, expiresAt, scope, tokenType } = value;
  assertTokenValue(`${name}.accessToken`, accessToken);
  if (refreshToken !== undefined) assertTokenValue(`${name}.refreshToken`, refreshToken);
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt < 0)) {
    throw invalid(`${name}.expiresAt`, 'a finite number of ms since the epoch', expiresAt);
  }
  if (expiresAt !== undefined && expiresAt < EARLIEST_EXPIRES_AT_MS) {
    throw invalid(`${name}.expiresAt`, 'ms since the epoch (this looks like seconds: multiply by 1000)', expiresAt);
  }
  if (scope !== undefined && typeof scope !== 'string') throw invalid(`${name}.scope`, 'a string', scope);
  if (tokenType !== undefined && typeof tokenType !== 'string')
    throw invalid(`${name}.tokenType`, 'a string', tokenType);
  const tokens: {
    accessToken: string;
    refreshToken?: string;
    expiresAt?: number;
    scope?: string;
    tokenType?: string;
  } = { accessToken };
  if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  if (scope !== undefined) tokens.scope = scope;
  if (tokenType !== undefined) tokens.tokenType = tokenType.toLowerCase();
  return Object.freeze(tokens);
}
