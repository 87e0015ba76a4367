import { accessTokenNow } from '../access-token-now.js';
import { bearerCredentials, credentialsForKey, refuseDpopBound, type CallCredentials } from '../call-credentials.js';
import { dpopProverForKey } from '../dpop-binding.js';
import { OriginNotAllowedError } from '../errors.js';
import type { TokenCache } from '../token-cache.js';
import { invalid } from '../validate.js';

/**
 * The request header that names the key of one outbound call, for every
 * client adapter (`@refreshkit/undici`, `@refreshkit/axios`,
 * `@refreshkit/got`). The adapter consumes it: it is never sent.
 */
export const KEY_HEADER = 'x-refreshkit-key';

/**
 * Where an outbound client adapter takes the key of a call from when the
 * call names none in {@link KEY_HEADER}: one key for every call (a worker's
 * service identity), or a function of the call's options (`Call` is the
 * client's own request options). `undefined` from the function means the
 * call carries no bearer and is sent untouched.
 */
export type OutboundKey<Call> = string | ((call: Call) => string | undefined | Promise<string | undefined>);

/** Options shared by every outbound client adapter. */
export interface OutboundBearerOptions<Call> {
  /** The cache that holds the tokens, and whose `allowedOrigins` the bearer may go to. Required. */
  readonly cache: TokenCache;
  /**
   * The key of calls that name none in {@link KEY_HEADER}. Without it, only
   * calls with that header carry a bearer.
   *
   * @default undefined
   */
  readonly key?: OutboundKey<Call>;
}

/** How many allowed origins {@link OutboundBearer} remembers, so it parses URLs on them no more. */
const REMEMBERED_ORIGINS = 64;

/** Redirects followed before giving up, as browsers and `cache.fetch` do. */
export const MAX_REDIRECTS = 20;

/**
 * What the outbound client adapters share, so each keeps the guarantees of
 * `cache.fetch` the same way: which key a call uses, whether its final URL
 * may get the bearer, and whether a 401 earns one refresh and one retry.
 */
export class OutboundBearer<Call> {
  readonly #cache: TokenCache;
  readonly #key: OutboundKey<Call> | undefined;
  /**
   * Canonical origins already found allowed: a URL string that starts with
   * one of them, up to its path, is on it, and the hot path then parses no
   * URL. Only allowed origins are kept, and only so many, so callers cannot
   * grow it without bound.
   */
  readonly #allowed = new Set<string>();
  /** The bearer credentials made last: calls of one token share them instead of allocating their own. */
  #lastBearer: CallCredentials | undefined;

  /** @throws TypeError naming the bad option. */
  constructor(options: OutboundBearerOptions<Call>) {
    if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
    const { cache, key } = options;
    if (
      typeof cache?.getAccessToken !== 'function' ||
      typeof cache.getTokenSet !== 'function' ||
      typeof cache.invalidate !== 'function' ||
      typeof cache.isAllowedOrigin !== 'function'
    ) {
      throw invalid('cache', 'a TokenCache', cache);
    }
    if (key !== undefined && typeof key !== 'function' && (typeof key !== 'string' || key === '')) {
      throw invalid('key', 'a non-empty string or a function of the call', key);
    }
    this.#cache = cache;
    this.#key = key;
  }

  /**
   * The key of a call: the one it names (the value of {@link KEY_HEADER}),
   * else the installed `key`. `undefined` (or `''`) means no bearer.
   */
  keyOf(call: Call, named: string | undefined): string | undefined | Promise<string | undefined> {
    if (named !== undefined && named !== '') return named;
    const key = this.#key;
    return typeof key === 'function' ? key(call) : key;
  }

  /**
   * The origin of `url` when the cache may send the bearer there.
   *
   * @throws OriginNotAllowedError for any other origin, TypeError for an invalid URL.
   */
  allowedOriginOf(url: string | URL): string {
    if (typeof url === 'string') {
      const known = originPrefixOf(url);
      if (this.#allowed.has(known)) return known;
    }
    const origin = typeof url === 'string' ? new URL(url).origin : url.origin;
    if (!this.#cache.isAllowedOrigin(origin)) throw new OriginNotAllowedError(origin);
    if (this.#allowed.size < REMEMBERED_ORIGINS) this.#allowed.add(origin);
    return origin;
  }

  /**
   * The credentials of a call for `key`: its fresh token as a bearer, or,
   * when the key's endpoint has a DPoP key and the token is bound to it,
   * as `DPoP` with a new proof per hop. Token failures reject with the
   * core's typed errors; a token bound to another DPoP key with
   * `DpopKeyMismatchError`, before anything is sent.
   */
  credentials(key: string, signal?: AbortSignal): Promise<CallCredentials> {
    return Promise.resolve(this.credentialsNow(key, signal));
  }

  /**
   * {@link credentials} without a promise when the cache has a bearer at
   * hand (and no `signal` is given to watch), so an adapter can send the
   * call in the turn it was made; otherwise the same promise.
   */
  credentialsNow(key: string, signal?: AbortSignal): CallCredentials | Promise<CallCredentials> {
    const dpop = dpopProverForKey(this.#cache, key);
    if (dpop !== undefined) return credentialsForKey(this.#cache, key, dpop, signal && { signal });
    if (signal !== undefined) return this.#cache.getAccessToken(key, { signal }).then(this.#bearerOf);
    const token = accessTokenNow(this.#cache, key);
    return typeof token === 'string' ? this.#bearerOf(token) : token.then(this.#bearerOf);
  }

  readonly #bearerOf = (token: string): CallCredentials => {
    const last = this.#lastBearer;
    if (last !== undefined && last.accessToken === token) return last;
    return (this.#lastBearer = bearerCredentials(token));
  };

  /**
   * Marks `token` as unusable, only if it is still the current token of
   * `key`: N calls that got a 401 for the same token cause one refresh.
   *
   * @throws DpopKeyMismatchError, invalidating nothing, when the key's
   * endpoint has no DPoP key and `token` is DPoP-bound (written to a shared
   * store by a process that has one).
   */
  async invalidate(key: string, token: string): Promise<void> {
    // A cache without DPoP must not refresh a DPoP-bound token another process wrote (as `cache.fetch`).
    if (dpopProverForKey(this.#cache, key) === undefined) await refuseDpopBound(this.#cache, key, token);
    await this.#cache.invalidate(key, token);
  }
}

/**
 * The start of `url` up to its path, query or fragment: `scheme://host:port`
 * for a URL written canonically. When that equals a canonical origin, the
 * URL is on that origin: anything that could make a parser read the
 * authority otherwise (userinfo `@`, a backslash, upper case, a default
 * port, leading spaces) leaves a prefix that equals no canonical origin.
 */
function originPrefixOf(url: string): string {
  const authority = url.indexOf('://') + 3;
  for (let i = authority; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) return url.slice(0, i);
  }
  return url;
}

/**
 * Whether a request body can be sent twice (for a 401 retry or a 307/308
 * redirect). Streams, async iterables and iterators are read once; strings,
 * bytes, `URLSearchParams`, `Blob`, `FormData` and plain objects a client
 * serialises can be sent again.
 */
export function isReplayableBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return true;
  const candidate = body as Record<string | symbol, unknown>;
  return !(
    typeof candidate.pipe === 'function' ||
    typeof candidate.getReader === 'function' ||
    typeof candidate[Symbol.asyncIterator] === 'function' ||
    (typeof candidate.next === 'function' && typeof candidate[Symbol.iterator] === 'function')
  );
}

/**
 * The method of the hop that follows a redirect with `status`: a 301, 302 or
 * 303 turns a request other than GET or HEAD into a GET without a body (as
 * browsers and `cache.fetch` do); a 307 or 308 keeps method and body.
 */
export function methodAfterRedirect(status: number, method: string): { method: string; dropsBody: boolean } {
  const upper = method.toUpperCase();
  if (status === 307 || status === 308 || upper === 'GET' || upper === 'HEAD') return { method, dropsBody: false };
  return { method: 'GET', dropsBody: true };
}

/** Whether `status` is a redirect a client follows (with a `Location`). */
export function isFollowedRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Whether `value` is still to come (a promise, or another thenable) rather than at hand. */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as Partial<PromiseLike<T>> | null | undefined)?.then === 'function';
}
