/**
 * `@refreshkit/undici`: an undici interceptor that sends each call with the
 * fresh bearer of its key, with the guarantees of `cache.fetch`.
 */
export { bearerInterceptor, type BearerInterceptorOptions } from './bearer-interceptor.js';
export { KEY_HEADER } from '@refreshkit/core/adapter';
