import { ReauthenticationRequiredError, RefreshkitError, TokenEndpointUnavailableError } from '../errors.js';

/**
 * The error middleware hands to the app when a request cannot get a token.
 * `status` is what the app should answer (401: sign in again; 503: try
 * later; 500: anything else); the upstream token endpoint's own status, if
 * any, stays on the `cause` as `upstreamStatus`, and the `cause` has the
 * specific code. Messages carry no secrets, so `expose` is true for 401 and 503.
 */
export class TokensUnavailableError extends RefreshkitError {
  /** HTTP status for the app's answer. */
  readonly status: 401 | 503 | 500;
  /** Whether the message is safe to show the client (always, for 401 and 503). */
  readonly expose: boolean;
  /** Headers the app's error handler should set (`Retry-After` on 503). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: 401 | 503 | 500, message: string, cause: unknown, headers: Record<string, string> = {}) {
    super('ERR_TOKENS_UNAVAILABLE', message, { cause });
    this.status = status;
    this.expose = status !== 500;
    this.headers = headers;
  }
}

/** Fallback `Retry-After` (seconds) when the token endpoint did not say. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/**
 * What the app should answer for a failure to get a token: 401 for a grant
 * that needs a new sign-in, 503 with `Retry-After` while the token service is
 * down, 500 for anything else.
 */
export function tokensUnavailableFrom(error: unknown): TokensUnavailableError {
  if (error instanceof TokensUnavailableError) return error;
  if (error instanceof ReauthenticationRequiredError) {
    return new TokensUnavailableError(401, 'Sign-in required: no usable token for this request', error);
  }
  if (error instanceof TokenEndpointUnavailableError) {
    const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? DEFAULT_RETRY_AFTER_SECONDS * 1000) / 1000));
    return new TokensUnavailableError(503, 'Token service temporarily unavailable', error, {
      'Retry-After': String(seconds),
    });
  }
  return new TokensUnavailableError(500, 'Could not obtain an access token', error);
}

/**
 * Rethrows a token failure (no grant, token service down) as what the app
 * should answer, and any other error (network, origin not allowed) as it is:
 * those are not about tokens.
 */
export function rethrowTokenFailure(error: unknown): never {
  if (error instanceof ReauthenticationRequiredError || error instanceof TokenEndpointUnavailableError) {
    throw tokensUnavailableFrom(error);
  }
  throw error;
}
