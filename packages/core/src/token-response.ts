/**
 * Turns a token endpoint's answer into a `TokenSet` or a typed error. This is
 * the edge where wire names (snake_case or camelCase, by provider) stop:
 * nothing past it sees them.
 */
import {
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
  type UpstreamResponseSummary,
} from './errors.js';
import { jwtExpiresAt } from './jwt-expiry.js';
import { credentialValuesIn, extrasFromResponse } from './token-extras.js';
import { redact, sanitize } from './redact.js';
import { isValidTokenValue, TOKEN_SYNTAX_DESCRIPTION } from './token-syntax.js';
import type { TokenSet } from './token-set.js';

/** What the parser needs besides the body. */
export interface ResponseContext {
  /** When the request was sent (ms epoch): expiry counts from here, not from arrival. */
  readonly sentAt: number;
  /** Lifetime assumed when neither `expires_in` nor a JWT `exp` is present. */
  readonly defaultExpiresInMs: number | undefined;
  /** Values that must never appear in error text. */
  readonly secrets: readonly (string | undefined)[];
  /** The endpoint as messages name it: origin and path, never query or credentials. */
  readonly endpoint: string;
  /** What an `invalid_grant` means for this grant, appended to its message (a refused code is not a dead refresh token). */
  readonly invalidGrantMeaning?: string;
  /**
   * The thumbprint of the DPoP key the request's proof was signed with, when
   * DPoP is configured: only then is `token_type: DPoP` accepted, and the
   * token set records the key it is bound to.
   */
  readonly dpopJkt?: string;
}

/** A raw HTTP answer, already read within the size limit. */
export interface RawTokenResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly text: string;
  /** `Retry-After` parsed to ms, if present. */
  readonly retryAfterMs: number | undefined;
}

/** OAuth error codes meaning the client's configuration, not the grant, is wrong. */
const CONFIGURATION_ERRORS = new Set([
  'invalid_client',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_request',
]);

/**
 * `token_type` values naming a scheme other than bearer: such an access
 * token cannot be sent as `Authorization: Bearer` (RFC 9449 DPoP, the MAC
 * drafts, RFC 8693's `N_A` for a token that is no access token). Any other
 * value, or a value that is not a string, is treated as bearer: refusing it
 * would throw away a refresh token the server has probably rotated already,
 * and an API that disagrees answers 401, which refreshes again.
 */
const NON_BEARER_TOKEN_TYPES = new Set(['dpop', 'mac', 'n_a', 'pop']);

/**
 * Longest token lifetime believed, from `expires_in` or a JWT `exp`: ten
 * years. A larger value is a server bug (or an overflow to `Infinity`), not a
 * lifetime; it is ignored as if absent, so expiry falls back to the next
 * source (JWT `exp`, `defaultExpiresInMs`, unknown).
 */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 60 * 60;

const MAX_DESCRIPTION_LENGTH = 200;
const MAX_OAUTH_ERROR_LENGTH = 64;

/**
 * `expires_in` is in whole seconds and servers compute it from a clock
 * truncated to the second, so the true remaining lifetime can be up to one
 * second shorter than stated. Counting it shorter keeps expiry conservative
 * (never more than half the stated lifetime is shaved off).
 */
const EXPIRES_IN_GRANULARITY_MS = 1_000;

/** The conservative lifetime, in ms, of a token whose `expires_in` is `seconds`. */
export function lifetimeMsOf(seconds: number): number {
  const stated = seconds * 1000;
  return stated - Math.min(EXPIRES_IN_GRANULARITY_MS, stated / 2);
}
const MAX_SUMMARY_BODY_LENGTH = 2048;

/** Reads one field under either spelling; snake_case wins when both are present. */
function field(body: Record<string, unknown>, snake: string, camel: string): unknown {
  return body[snake] !== undefined && body[snake] !== null ? body[snake] : (body[camel] ?? undefined);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * `expires_in` as a number or a numeric string, in seconds, from 0 to ten
 * years; undefined when absent or unusable (negative, absurd, not numeric),
 * so the caller falls back as if it were absent. `0` is kept: the token is
 * already expired, and the cache must see it so.
 */
function expiresInSeconds(value: unknown): number | undefined {
  const seconds = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && seconds >= 0 && seconds <= MAX_LIFETIME_SECONDS ? seconds : undefined;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Secrets found in a body, so error text can redact what the server sent
 * too: the tokens, and every string under a credential-like name at any depth
 * (`id_token`, Slack's `authed_user.access_token`).
 */
function secretsIn(body: Record<string, unknown> | undefined): string[] {
  if (body === undefined) return [];
  return credentialValuesIn(body);
}

/**
 * Spellings of the refresh token's lifetime in seconds: RFC-style
 * (Microsoft, GitHub, Zoom), Intuit's `x_` prefix, Keycloak's
 * `refresh_expires_in`, and their camelCase forms.
 */
const REFRESH_TOKEN_LIFETIME_FIELDS = [
  'refresh_token_expires_in',
  'x_refresh_token_expires_in',
  'refresh_expires_in',
  'refreshTokenExpiresIn',
  'xRefreshTokenExpiresIn',
  'refreshExpiresIn',
];

/** Microsoft's hint, in seconds, of when to refresh (earlier than expiry). */
const REFRESH_HINT_FIELDS = ['refresh_in', 'refreshIn'];

/**
 * Fields the parser maps onto the token set: not repeated in `extras`. One
 * source of truth: a copy of `refresh_token` in extras would outlive its
 * rotation, and a relative `expires_in` means nothing once stored.
 */
const CONSUMED_FIELDS: ReadonlySet<string> = new Set([
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'expires_in',
  'expiresIn',
  'token_type',
  'tokenType',
  'scope',
  ...REFRESH_TOKEN_LIFETIME_FIELDS,
  ...REFRESH_HINT_FIELDS,
]);

/**
 * The refresh token's expiry from whichever lifetime fields the server sent
 * (the earliest, if they disagree), counted conservatively from `sentAt`.
 * An unusable value (negative, absurd, not numeric) is ignored, never fatal:
 * the answer may carry a rotated refresh token. `0` is ignored too: Keycloak
 * sends it for offline tokens, which have no idle expiry.
 */
function refreshTokenExpiresAtOf(body: Record<string, unknown>, sentAt: number): number | undefined {
  let earliest: number | undefined;
  for (const name of REFRESH_TOKEN_LIFETIME_FIELDS) {
    const seconds = expiresInSeconds(body[name]);
    if (seconds === undefined || seconds === 0) continue;
    const at = sentAt + lifetimeMsOf(seconds);
    if (earliest === undefined || at < earliest) earliest = at;
  }
  return earliest;
}

/** `refresh_in` as ms epoch, counted from `sentAt`; ignored unless a positive number of seconds within ten years. */
function suggestedRefreshAtOf(body: Record<string, unknown>, sentAt: number): number | undefined {
  for (const name of REFRESH_HINT_FIELDS) {
    const seconds = expiresInSeconds(body[name]);
    if (seconds !== undefined && seconds > 0) return sentAt + seconds * 1000;
  }
  return undefined;
}

/**
 * A 2xx body is a token response, secret by nature, whatever shape it has:
 * only error answers keep a (redacted) copy of their body.
 */
function summarize(raw: RawTokenResponse, secrets: readonly (string | undefined)[]): UpstreamResponseSummary {
  const success = raw.status >= 200 && raw.status < 300;
  return {
    status: raw.status,
    contentType: raw.contentType === undefined ? undefined : redact(raw.contentType, secrets, 256),
    body: success ? '[omitted: 2xx token response]' : redact(raw.text, secrets, MAX_SUMMARY_BODY_LENGTH),
  };
}

/**
 * Classifies an answer: resolves to a `TokenSet` for a valid 2xx, or returns
 * the typed error to throw. `transient` errors may be retried.
 */
export function interpretTokenResponse(
  raw: RawTokenResponse,
  context: ResponseContext,
): { tokens: TokenSet } | { error: Error; transient: boolean } {
  const body = parseJsonObject(raw.text);
  const secrets = [...context.secrets, ...secretsIn(body)];
  // Built only for an error: redaction compiles a pattern of every secret's
  // escaped forms, which the success path (every refresh) must not pay for.
  const summary = (): UpstreamResponseSummary => summarize(raw, secrets);
  const upstreamStatus = raw.status;
  const endpoint = `Token endpoint ${context.endpoint}`;

  if (raw.status >= 200 && raw.status < 300) {
    if (body === undefined) {
      // The content type is the server's text too: it may echo anything.
      const type = raw.contentType && sanitize(redact(raw.contentType.split(';')[0]!, secrets), 64);
      const what = type ? `a ${type} body` : 'a body that is not a JSON object';
      const error = new InvalidTokenResponseError(`${endpoint} answered ${raw.status} with ${what}`, {
        upstreamStatus,
        response: summary(),
      });
      return { error, transient: false };
    }
    const parsed = parseTokenSet(body, context);
    if ('problem' in parsed) {
      const message = `${endpoint} answered ${raw.status} with an unusable token response: ${parsed.problem}`;
      const error = new InvalidTokenResponseError(message, {
        upstreamStatus,
        response: summary(),
        ...(parsed.rotatedRefreshToken !== undefined && { rotatedRefreshToken: parsed.rotatedRefreshToken }),
      });
      return { error, transient: false };
    }
    return { tokens: parsed };
  }

  // Both fields are the server's free text: either may echo what was sent.
  const rawError = optionalString(body?.error);
  const oauthError = rawError && sanitize(redact(rawError, secrets), MAX_OAUTH_ERROR_LENGTH);
  const rawDescription = optionalString(body?.error_description) ?? optionalString(body?.errorDescription);
  const description = rawDescription && sanitize(redact(rawDescription, secrets), MAX_DESCRIPTION_LENGTH);
  const detail = `${raw.status}${oauthError ? ` ${oauthError}` : ''}${description ? `: ${description}` : ''}`;
  const details = { upstreamStatus, response: summary(), ...(oauthError && { oauthError }) };

  if (rawError === 'invalid_grant') {
    return {
      error: new ReauthenticationRequiredError('invalid_grant', {
        upstreamStatus,
        detail: `${endpoint} answered ${detail}${context.invalidGrantMeaning ? `; ${context.invalidGrantMeaning}` : ''}`,
      }),
      transient: false,
    };
  }
  if (raw.status === 429 || raw.status === 408 || raw.status >= 500) {
    return {
      error: new TokenEndpointUnavailableError(`${endpoint} is unavailable: it answered ${detail}`, {
        ...details,
        ...(raw.retryAfterMs !== undefined && { retryAfterMs: raw.retryAfterMs }),
      }),
      transient: true,
    };
  }
  const kind = rawError && CONFIGURATION_ERRORS.has(rawError) ? 'rejected the client' : 'refused the request';
  return {
    error: new TokenEndpointConfigurationError(`${endpoint} ${kind}: it answered ${detail}`, details),
    transient: false,
  };
}

/** Why a 2xx body is no usable token set, and the rotated refresh token it may still carry. */
export interface TokenResponseProblem {
  /** What is wrong, naming fields only, never their values. */
  readonly problem: string;
  /** A well-formed refresh token from the same answer, which the server has probably made current. */
  readonly rotatedRefreshToken?: string;
}

/**
 * Validates a JSON token response. Only an unusable access token (or a
 * refresh token present but malformed) makes it a problem; other fields that
 * are unusable are ignored as if absent (an absurd `refresh_token_expires_in`,
 * extras beyond the size limit), because by the time a 2xx arrives
 * the server has probably rotated the refresh token, and throwing the answer
 * away would lose it.
 */
export function parseTokenSet(
  body: Record<string, unknown>,
  context: ResponseContext,
): TokenSet | TokenResponseProblem {
  const refreshToken = field(body, 'refresh_token', 'refreshToken');
  if (refreshToken !== undefined && typeof refreshToken !== 'string')
    return { problem: '`refresh_token` is not a string' };
  if (typeof refreshToken === 'string' && refreshToken.length > 0 && !isValidTokenValue(refreshToken)) {
    return { problem: `\`refresh_token\` must hold ${TOKEN_SYNTAX_DESCRIPTION}` };
  }
  const rotated =
    typeof refreshToken === 'string' && refreshToken.length > 0 ? { rotatedRefreshToken: refreshToken } : {};

  const accessToken = field(body, 'access_token', 'accessToken');
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    return { problem: '`access_token` is missing or not a string', ...rotated };
  }
  if (!isValidTokenValue(accessToken))
    return { problem: `\`access_token\` must hold ${TOKEN_SYNTAX_DESCRIPTION}`, ...rotated };

  const tokenType = field(body, 'token_type', 'tokenType');
  const normalisedType = typeof tokenType === 'string' ? tokenType.trim().toLowerCase() : undefined;
  const dpopBound = normalisedType === 'dpop' && context.dpopJkt !== undefined;
  if (normalisedType !== undefined && NON_BEARER_TOKEN_TYPES.has(normalisedType) && !dpopBound) {
    const hint =
      normalisedType === 'dpop'
        ? '; a DPoP-bound token is accepted only when the endpoint has a `dpop` option (no proof was sent)'
        : '; only bearer tokens are supported';
    return { problem: `\`token_type\` is \`${sanitize(tokenType as string, 32)}\`${hint}`, ...rotated };
  }

  let scope = field(body, 'scope', 'scope');
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string')) scope = scope.join(' ');

  const seconds = expiresInSeconds(field(body, 'expires_in', 'expiresIn'));
  const expiresAt =
    seconds !== undefined
      ? context.sentAt + lifetimeMsOf(seconds)
      : (jwtExpiresAt(accessToken, context.sentAt + MAX_LIFETIME_SECONDS * 1000) ??
        (context.defaultExpiresInMs !== undefined ? context.sentAt + context.defaultExpiresInMs : undefined));

  // A server may answer a DPoP proof with a bearer token (RFC 9449 §5: binding is its choice): kept as bearer.
  const tokens: { -readonly [K in keyof TokenSet]: TokenSet[K] } = dpopBound
    ? { accessToken, tokenType: 'dpop', dpopJkt: context.dpopJkt }
    : { accessToken, tokenType: 'bearer' };
  if (rotated.rotatedRefreshToken !== undefined) tokens.refreshToken = rotated.rotatedRefreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  if (typeof scope === 'string' && scope.length > 0) tokens.scope = scope;
  const refreshTokenExpiresAt = refreshTokenExpiresAtOf(body, context.sentAt);
  if (refreshTokenExpiresAt !== undefined) tokens.refreshTokenExpiresAt = refreshTokenExpiresAt;
  const suggestedRefreshAt = suggestedRefreshAtOf(body, context.sentAt);
  if (suggestedRefreshAt !== undefined) tokens.suggestedRefreshAt = suggestedRefreshAt;
  const extras = extrasFromResponse(body, CONSUMED_FIELDS);
  if (extras !== undefined) tokens.extras = extras;
  return Object.freeze(tokens);
}
