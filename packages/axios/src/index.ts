/**
 * `@refreshkit/axios`: request and response interceptors that give each
 * axios call the fresh bearer of its key, with the guarantees of `cache.fetch`.
 */
export { bearerInterceptors, type BearerInterceptorsOptions } from './bearer-interceptors.js';
export { KEY_HEADER } from '@refreshkit/core/adapter';
