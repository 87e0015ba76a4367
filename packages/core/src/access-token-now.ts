/**
 * Where a `TokenCache` hands an outbound client adapter a cached token
 * without a promise: a symbol, so the cache's public surface does not grow.
 * A token at hand lets an adapter send its call in the same turn of the
 * event loop, with no microtask hop and no promise allocated per call.
 */
export const ACCESS_TOKEN_NOW: unique symbol = Symbol.for('refreshkit.accessTokenNow');

/** An object that may answer {@link ACCESS_TOKEN_NOW}, as a `TokenCache` does. */
interface TokenSource {
  getAccessToken(key: string): Promise<string>;
  [ACCESS_TOKEN_NOW]?: (key: string) => string | Promise<string>;
}

/**
 * The access token of `key` by the rules of `getAccessToken`: the token
 * itself when the cache has a usable one at hand, else the promise
 * `getAccessToken` returns (a refresh, a store read, an error).
 */
export function accessTokenNow(cache: TokenSource, key: string): string | Promise<string> {
  const now = cache[ACCESS_TOKEN_NOW];
  return now === undefined ? cache.getAccessToken(key) : now.call(cache, key);
}
