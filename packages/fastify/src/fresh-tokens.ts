import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { fastifyPlugin } from 'fastify-plugin';
import {
  RequestTokens,
  tokensUnavailableFrom,
  validateFreshTokensOptions,
  type FreshTokensOptions,
} from '@refreshkit/core/adapter';

declare module 'fastify' {
  interface FastifyRequest {
    /** Fresh tokens for this request's key, from `@refreshkit/fastify`. */
    tokens: RequestTokens;
  }
}

/** The name Fastify shows for the plugin, and the one other plugins list in `dependencies`. */
export const PLUGIN_NAME = '@refreshkit/fastify';

async function freshTokensPlugin(fastify: FastifyInstance, options: FreshTokensOptions<FastifyRequest>): Promise<void> {
  const { cache, key, forward } = validateFreshTokensOptions(options);
  // Fastify 5 refuses an object as the decoration's initial value (it would
  // be shared by every request): start from null, set one per request.
  fastify.decorateRequest('tokens', null, []);
  fastify.addHook('onRequest', function freshTokensHook(request, _reply, done) {
    request.tokens = new RequestTokens(cache, () => key(request));
    done();
  });
  if (forward === undefined) return;
  // In preHandler rather than onRequest: authentication hooks (onRequest,
  // preValidation) have run by then, so the resolver can read what they set.
  fastify.addHook('preHandler', async function forwardBearerHook(request) {
    try {
      request.headers.authorization = await request.tokens.authorizationHeader();
    } catch (error) {
      throw tokensUnavailableFrom(error);
    }
  });
}

/**
 * Fastify plugin (Fastify 4 and 5) that gives each request `request.tokens`
 * with `getAccessToken()`, `fetch(input, init)` and `authorizationHeader()`
 * for the key `key(request)` names. It is wrapped in `fastify-plugin`, so
 * registered at the root it reaches every route; `request.tokens` is typed
 * without casts once this package is imported.
 *
 * Nothing runs per request until a handler asks for a token, except with
 * `forward`, where the bearer is put on the request in a `preHandler` hook
 * for a proxy (`@fastify/http-proxy`) to copy. Failures are thrown with
 * `status` 401 or 503 and `headers` (`Retry-After`), which Fastify's default
 * error handler answers as they are. Bad options make `register` reject.
 *
 * @example
 * await app.register(freshTokens, { cache, key: (request) => request.user?.id });
 * app.get('/me', async (request) => (await request.tokens.fetch(apiUrl)).json());
 */
export const freshTokens: FastifyPluginAsync<FreshTokensOptions<FastifyRequest>> = fastifyPlugin(freshTokensPlugin, {
  fastify: '4.x || 5.x',
  name: PLUGIN_NAME,
});
