import { HTTPException } from 'hono/http-exception';
import { TokensUnavailableError } from '@refreshkit/core/adapter';

/**
 * The `HTTPException` a Hono app answers for a request that cannot get a
 * token: 401 (sign in again) or 503 with `Retry-After`. Hono's default error
 * handler, and custom ones that check `instanceof HTTPException`, answer it
 * with {@link TokensHttpException.getResponse}; the refreshkit error, with
 * its code and its own `cause`, is the `cause`.
 */
export class TokensHttpException extends HTTPException {
  /** Headers of the answer (`Retry-After` on 503). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(error: TokensUnavailableError & { status: 401 | 503 }) {
    super(error.status, { message: error.message, cause: error });
    this.name = 'TokensHttpException';
    this.headers = error.headers;
  }

  /** The answer: the message as text, with the status and headers. Can be called more than once. */
  override getResponse(): Response {
    return new Response(this.message, { status: this.status, headers: this.headers });
  }
}

/**
 * Rethrows a 401 or 503 {@link TokensUnavailableError} as the
 * `HTTPException` Hono answers, and anything else as it is: a 500 stays an
 * unexposed error for the app's error handler, and errors that are not about
 * tokens (network, origin not allowed) are not this adapter's to map.
 */
export function rethrowForHono(error: unknown): never {
  if (error instanceof TokensUnavailableError && error.status !== 500) {
    throw new TokensHttpException(error as TokensUnavailableError & { status: 401 | 503 });
  }
  throw error;
}
