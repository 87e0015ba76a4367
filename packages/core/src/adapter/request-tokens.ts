import type { TokenCache } from '../token-cache.js';
import { rethrowTokenFailure, tokensUnavailableFrom, TokensUnavailableError } from './tokens-unavailable.js';

/** Resolves the cache key of the current request; `undefined` when the request has none (not signed in). */
export type KeyResolver = () => string | undefined | Promise<string | undefined>;

/**
 * The per-request handle that `@refreshkit/express` puts on `req.tokens` and
 * `@refreshkit/koa` on `ctx.state.tokens`. It does nothing until a handler
 * asks for a token: the key is resolved on first use and remembered.
 */
export class RequestTokens {
  readonly #cache: TokenCache;
  readonly #resolveKey: KeyResolver;
  /** The key, or a promise of it from an asynchronous resolver; resolved on first use, then remembered. */
  #key: string | Promise<string> | undefined;

  constructor(cache: TokenCache, resolveKey: KeyResolver) {
    this.#cache = cache;
    this.#resolveKey = resolveKey;
  }

  /** A fresh access token for this request's key. Rejects with {@link TokensUnavailableError}. */
  async getAccessToken(): Promise<string> {
    try {
      return await this.#cache.getAccessToken(await this.key());
    } catch (error) {
      throw tokensUnavailableFrom(error);
    }
  }

  /**
   * `Bearer <token>` for another HTTP client. Rejects with
   * {@link TokensUnavailableError} (a 500 whose `cause` is
   * `DpopProofRequiredError` for a DPoP-bound token).
   */
  async authorizationHeader(): Promise<string> {
    try {
      return await this.#cache.authorizationHeader(await this.key());
    } catch (error) {
      throw tokensUnavailableFrom(error);
    }
  }

  /**
   * `cache.fetch` for this request's key. Token failures reject with
   * {@link TokensUnavailableError}; an origin outside `allowedOrigins`
   * rejects with `OriginNotAllowedError`; network errors pass through.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // Not an async function: this call waits on the upstream, and a promise
    // chain keeps less alive meanwhile than a suspended async frame.
    const key = (this.#key ??= this.#resolve());
    const response =
      typeof key === 'string'
        ? this.#cache.fetch(key, input, init)
        : key.then((resolved) => this.#cache.fetch(resolved, input, init));
    return response.catch(rethrowTokenFailure);
  }

  /** This request's key. Rejects with a 401 {@link TokensUnavailableError} when there is none. */
  key(): Promise<string> {
    const key = (this.#key ??= this.#resolve());
    return typeof key === 'string' ? Promise.resolve(key) : key;
  }

  /**
   * Runs the resolver: a key it returns at once is used at once, without a
   * promise. A resolver that throws makes every call reject, never throw.
   */
  #resolve(): string | Promise<string> {
    let key: ReturnType<KeyResolver>;
    try {
      key = this.#resolveKey();
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof key === 'string' && key !== '') return key;
    return Promise.resolve(key).then(presentKey);
  }
}

/** The resolved key, or a 401 when the request has none. */
function presentKey(key: string | undefined): string {
  if (key === undefined || key === null || key === '') {
    throw new TokensUnavailableError(401, 'Sign-in required: this request has no token key', undefined);
  }
  return key;
}
