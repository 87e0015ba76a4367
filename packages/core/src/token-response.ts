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
import { redact, sanitize } from './redact.js';
import type { TokenSet } from './token-set.js';

/** What the parser needs besides the body. */
export interface ResponseContext {
  /** When the request was sent (ms epoch): expiry counts from here, not from arrival. */
  readonly sentAt: number;
  /** Lifetime assumed when neither `expires_in` nor a JWT `exp` is present. */
  readonly defaultExpiresInMs: number | undefined;
  /** Values that must never appear in error text. */
  readonly secrets: readonly (string | undefined)[];
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

const MAX_DESCRIPTION_LENGTH = 200;

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

/** `expires_in` as a number or a numeric string, in seconds; undefined when absent. */
function expiresInSeconds(value: unknown): number | undefined | 'invalid' {
  if (value === undefined || value === null || value === '') return undefined;
  const seconds = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds : 'invalid';
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

/** Secrets found in a body, so error text can redact what the server sent too. */
function secretsIn(body: Record<string, unknown> | undefined): string[] {
  if (body === undefined) return [];
  return ['access_token', 'accessToken', 'refresh_token', 'refreshToken', 'id_token', 'idToken']
    .map((name) => body[name])
    .filter((value): value is string => typeof value === 'string');
}

/**
 * A 2xx body is a token response, secret by nature, whatever shape it has:
 * only error answers keep a (redacted) copy of their body.
 */
function summarize(raw: RawTokenResponse, secrets: readonly (string | undefined)[]): UpstreamResponseSummary {
  const success = raw.status >= 200 && raw.status < 300;
  return {
    status: raw.status,
    contentType: raw.contentType,
    body: success ? '[omitted: 2xx token response]' : redact(raw.text, secrets).slice(0, MAX_SUMMARY_BODY_LENGTH),
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
  const response = summarize(raw, secrets);
  const upstreamStatus = raw.status;

  if (raw.status >= 200 && raw.status < 300) {
    if (body === undefined) {
      const what = raw.contentType ? `a ${raw.contentType.split(';')[0]} body` : 'a body that is not a JSON object';
      const error = new InvalidTokenResponseError(`Token endpoint answered ${raw.status} with ${what}`, {
        upstreamStatus,
        response,
      });
      return { error, transient: false };
    }
    const parsed = parseTokenSet(body, context);
    if (typeof parsed === 'string') {
      return {
        error: new InvalidTokenResponseError(`Invalid token response: ${parsed}`, { upstreamStatus, response }),
        transient: false,
      };
    }
    return { tokens: parsed };
  }

  const oauthError = optionalString(body?.error);
  const rawDescription = optionalString(body?.error_description) ?? optionalString(body?.errorDescription);
  const description = rawDescription && sanitize(redact(rawDescription, secrets), MAX_DESCRIPTION_LENGTH);
  const detail = `${raw.status}${oauthError ? ` ${sanitize(oauthError, 64)}` : ''}${description ? `: ${description}` : ''}`;
  const details = { upstreamStatus, response, ...(oauthError && { oauthError }) };

  if (oauthError === 'invalid_grant') {
    return {
      error: new ReauthenticationRequiredError('invalid_grant', { upstreamStatus, detail }),
      transient: false,
    };
  }
  if (raw.status === 429 || raw.status === 408 || raw.status >= 500) {
    return {
      error: new TokenEndpointUnavailableError(`Token endpoint unavailable (${detail})`, {
        ...details,
        ...(raw.retryAfterMs !== undefined && { retryAfterMs: raw.retryAfterMs }),
      }),
      transient: true,
    };
  }
  const kind = oauthError && CONFIGURATION_ERRORS.has(oauthError) ? 'rejected the client' : 'refused the request';
  return {
    error: new TokenEndpointConfigurationError(`Token endpoint ${kind} (${detail})`, details),
    transient: false,
  };
}

/** Validates a JSON token response; returns a problem description instead of throwing. */
export function parseTokenSet(body: Record<string, unknown>, context: ResponseContext): TokenSet | string {
  const accessToken = field(body, 'access_token', 'accessToken');
  if (typeof accessToken !== 'string' || accessToken.length === 0) return '`access_token` is missing or not a string';

  const tokenType = field(body, 'token_type', 'tokenType');
  if (tokenType !== undefined && typeof tokenType !== 'string') return '`token_type` is not a string';
  if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'bearer') {
    return `\`token_type\` is \`${sanitize(tokenType, 32)}\`; only bearer tokens are supported`;
  }

  const refreshToken = field(body, 'refresh_token', 'refreshToken');
  if (refreshToken !== undefined && typeof refreshToken !== 'string') return '`refresh_token` is not a string';

  let scope = field(body, 'scope', 'scope');
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string')) scope = scope.join(' ');
  if (scope !== undefined && typeof scope !== 'string') return '`scope` is not a string';

  const seconds = expiresInSeconds(field(body, 'expires_in', 'expiresIn'));
  if (seconds === 'invalid') return '`expires_in` is not a non-negative number';
  const expiresAt =
    seconds !== undefined
      ? context.sentAt + lifetimeMsOf(seconds)
      : (jwtExpiresAt(accessToken) ??
        (context.defaultExpiresInMs !== undefined ? context.sentAt + context.defaultExpiresInMs : undefined));

  const tokens: { -readonly [K in keyof TokenSet]: TokenSet[K] } = { accessToken, tokenType: 'bearer' };
  if (typeof refreshToken === 'string' && refreshToken.length > 0) tokens.refreshToken = refreshToken;
  if (expiresAt !== undefined) tokens.expiresAt = expiresAt;
  if (typeof scope === 'string' && scope.length > 0) tokens.scope = scope;
  return Object.freeze(tokens);
}
