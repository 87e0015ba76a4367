import { context, trace, type Attributes } from '@opentelemetry/api';
import type { TokenCache } from '@refreshkit/core';
import { failSpan, type CacheTraces } from './cache-traces.js';
import { ATTR } from './names.js';

/**
 * The attributes of an outbound call that are safe to record: method,
 * scheme, host and port. Never the path or the query (they can hold
 * identifiers or, with careless APIs, secrets).
 */
function requestAttributes(input: RequestInfo | URL, init: RequestInit | undefined): Attributes {
  const isRequest = typeof Request !== 'undefined' && input instanceof Request;
  const method = (init?.method ?? (isRequest ? input.method : 'GET')).toUpperCase();
  const attributes: Attributes = { [ATTR.httpMethod]: KNOWN_METHODS.has(method) ? method : '_OTHER' };
  try {
    const url = new URL(isRequest ? input.url : input instanceof URL ? input.href : String(input));
    attributes[ATTR.urlScheme] = url.protocol.slice(0, -1);
    attributes[ATTR.serverAddress] = url.hostname;
    attributes[ATTR.serverPort] = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  } catch {
    // Not a URL: cache.fetch rejects it; the span records that.
  }
  return attributes;
}

/** Methods recorded as they are; anything else is `_OTHER` (bounded, as OpenTelemetry's HTTP conventions say). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Puts a span around each `cache.fetch` call, active while it runs, so the
 * wait for a token and the outbound HTTP call (when an HTTP instrumentation
 * is installed) nest under it, and a 401 retry is an event on it. It
 * shadows the method on this one cache object; the returned function puts
 * the original back.
 */
export function wrapFetch(
  cache: TokenCache,
  traced: CacheTraces,
  keyAttributes: (key: string) => Attributes,
): () => void {
  const original = cache.fetch;
  const wrapped: TokenCache['fetch'] = function tracedFetch(key, input, init) {
    const span = traced.startFetch({ ...requestAttributes(input, init), ...keyAttributes(key) });
    let pending: Promise<Response>;
    try {
      pending = context.with(trace.setSpan(context.active(), span), () => original.call(cache, key, input, init));
    } catch (error) {
      failSpan(span, error);
      span.end();
      throw error;
    }
    return pending.then(
      (response) => {
        span.setAttribute(ATTR.httpStatus, response.status);
        span.end();
        return response;
      },
      (error: unknown) => {
        failSpan(span, error);
        span.end();
        throw error;
      },
    );
  };
  Object.defineProperty(cache, 'fetch', { value: wrapped, configurable: true, writable: true, enumerable: false });
  return () => {
    if (Object.getOwnPropertyDescriptor(cache, 'fetch')?.value === wrapped) delete (cache as { fetch?: unknown }).fetch;
  };
}
