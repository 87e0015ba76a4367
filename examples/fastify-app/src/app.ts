import fastify, { type FastifyInstance } from 'fastify';
import type { TokenCache } from '@refreshkit/core';
import { freshTokens } from '@refreshkit/fastify';

/** Options of {@link createFastifyApp}. */
export interface FastifyAppOptions {
  /** The cache holding each user's tokens. */
  readonly cache: TokenCache;
  /** Origin of the protected API the app calls (must be in the cache's `allowedOrigins`). */
  readonly apiOrigin: string;
}

/**
 * A Fastify app whose `/profile` route calls the protected API with the
 * signed-in user's fresh bearer. The user id comes from an `x-user-id`
 * header, standing in for the real app's authentication (a session, a JWT
 * plugin). Token failures reach Fastify's default error handler, which
 * answers 401, or 503 with `Retry-After`.
 */
export function createFastifyApp({ cache, apiOrigin }: FastifyAppOptions): FastifyInstance {
  const app = fastify();
  void app.register(freshTokens, { cache, key: (request) => request.headers['x-user-id'] as string | undefined });
  app.get('/profile', async (request, reply) => {
    const upstream = await request.tokens.fetch(`${apiOrigin}/me`);
    return reply.code(upstream.status).send(await upstream.json());
  });
  return app;
}
