import type { AxiosRequestConfig } from 'axios';

/** A URL that names its own origin: `<scheme>://` or protocol-relative `//`, as axios tells them. */
const ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The URL axios sends a config to, up to its query: `url` joined to
 * `baseURL` the way axios joins them (unless `url` is absolute and absolute
 * URLs are allowed). `params` only add a query, which cannot change the
 * origin, so they are left out. axios's own `getUri` gives the same origin
 * but merges the config with the instance defaults again, which costs more
 * than the rest of the token path together.
 */
export function fullPathOf({ baseURL, url = '', allowAbsoluteUrls }: AxiosRequestConfig): string {
  if (baseURL && (!ABSOLUTE.test(url) || allowAbsoluteUrls === false)) {
    return url ? `${baseURL.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}` : baseURL;
  }
  return url;
}
