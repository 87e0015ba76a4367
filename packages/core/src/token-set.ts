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
 * Checks a caller-supplied token set (from `set`, `load`, or a custom
 * endpoint) and returns a frozen copy holding only the known fields, so
 * nothing the caller mutates later can change what is stored.
 *
 * @throws TypeError naming the bad field; token values are never shown.
 */
export function toTokenSet(value: unknown, name = 'tokens'): TokenSet {
  assertObject(name, value);
  const { accessToken, refreshToken, expiresAt, scope, tokenType } = value;
  assertNonEmptyString(`${name}.accessToken`, accessToken, true);
  if (refreshToken !== undefined) assertNonEmptyString(`${name}.refreshToken`, refreshToken, true);
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt < 0)) {
    throw invalid(`${name}.expiresAt`, 'a finite number of ms since the epoch', expiresAt);
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
