/**
 * `@refreshkit/got`: got hooks that give each call the fresh bearer of its
 * key, with the guarantees of `cache.fetch`.
 */
export { bearerHooks, type BearerHooksOptions } from './bearer-hooks.js';
export { KEY_HEADER } from '@refreshkit/core/adapter';
