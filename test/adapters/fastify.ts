// Fastify 4 and 5 as adapter conformance entries: an app written the way
// Fastify users write one, answered by Fastify's own default error handler.
import type { RequestListener } from 'node:http';
import proxy5 from '@fastify/http-proxy';
import fastify5, { type FastifyInstance } from 'fastify';
import fastify4 from 'fastify4';
import proxy4 from 'fastify4-http-proxy';
import { freshTokens, PLUGIN_NAME } from '@refreshkit/fastify';
import type { AdapterAppOptions, AdapterUnderTest } from './adapter-conformance.js';

/**
 * The Node request listener of a Fastify app, for supertest: requests wait
 * until the app is ready (plugins loaded), then go through Fastify's router.
 */
export function fastifyListener(app: FastifyInstance): RequestListener {
  const ready = app.ready();
  return (req, res) => void ready.then(() => app.routing(req, res));
}

type Versioned = { makeApp: () => FastifyInstance; proxy: typeof proxy5 };

function fastifyApp({ makeApp, proxy }: Versioned, { cache, keyOf, forward, apiOrigin }: AdapterAppOptions) {
  const app = makeApp();
  void app.register(freshTokens, {
    cache,
    key: (request) => keyOf(request.raw),
    ...(forward !== undefined && { forward }),
  });
  if (forward !== undefined) void app.register(proxy, { upstream: apiOrigin, prefix: '/proxy' });
  app.get('/token', async (request) => ({ token: await request.tokens.getAccessToken() }));
  for (const [path, target] of [
    ['/me', `${apiOrigin}/me`],
    ['/elsewhere', 'https://elsewhere.example.com/me'],
  ] as const) {
    app.get(path, async (request, reply) => {
      const upstream = await request.tokens.fetch(target);
      return reply.code(upstream.status).send(await upstream.json());
    });
  }
  app.get('/plain', async () => 'no tokens needed');
  return app;
}

function fastifyAdapter(name: string, versioned: Versioned): AdapterUnderTest {
  return {
    name,
    app: (options) => fastifyListener(fastifyApp(versioned, options)),
    // Fastify checks a plugin's options when it loads it: register rejects.
    freshTokens: async (options) => {
      const app = versioned.makeApp();
      await app.register(freshTokens, options as Parameters<typeof freshTokens>[1]);
      await app.ready();
      return { name: app.hasPlugin(PLUGIN_NAME) ? PLUGIN_NAME : 'not registered' };
    },
    middlewareName: PLUGIN_NAME,
  };
}

/** Fastify 4 and 5. */
export const FASTIFY_ADAPTERS: readonly AdapterUnderTest[] = [
  fastifyAdapter('Fastify 4', {
    makeApp: () => (fastify4 as unknown as () => FastifyInstance)(),
    proxy: proxy4 as unknown as typeof proxy5,
  }),
  fastifyAdapter('Fastify 5', { makeApp: () => fastify5(), proxy: proxy5 }),
];
