import { RequestTokens } from '@refreshkit/core/adapter';
import { rethrowForHono } from './http-exception-from.js';

/**
 * What `c.get('tokens')` holds: the {@link RequestTokens} methods, whose
 * token failures reject with Hono's `HTTPException` (401, or 503 with
 * `Retry-After`), since a Hono handler's errors go to `app.onError`, not to
 * a next(err). It wraps rather than extends `RequestTokens`: the base
 * class's methods call one another, and must see its own errors.
 */
export class HonoRequestTokens implements Pick<
  RequestTokens,
  'getAccessToken' | 'authorizationHeader' | 'fetch' | 'key'
> {
  readonly #tokens: RequestTokens;

  /** @param tokens The request's tokens, as every adapter has them. */
  constructor(tokens: RequestTokens) {
    this.#tokens = tokens;
  }

  /** A fresh access token for this request's key. Rejects with `TokensHttpException` (401, 503). */
  getAccessToken(): Promise<string> {
    return this.#tokens.getAccessToken().catch(rethrowForHono);
  }

  /** `Bearer <token>` for another HTTP client. Rejects as {@link HonoRequestTokens.getAccessToken}. */
  authorizationHeader(): Promise<string> {
    return this.#tokens.authorizationHeader().catch(rethrowForHono);
  }

  /**
   * `cache.fetch` for this request's key. Token failures reject with
   * `TokensHttpException`; an origin outside `allowedOrigins` rejects with
   * `OriginNotAllowedError` (a 500); network errors pass through.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return this.#tokens.fetch(input, init).catch(rethrowForHono);
  }

  /** This request's key. Rejects with a 401 `TokensHttpException` when there is none. */
  key(): Promise<string> {
    return this.#tokens.key().catch(rethrowForHono);
  }
}
