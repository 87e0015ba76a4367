// Hono as an adapter conformance entry: an app written the way Hono users
// write one, answered by Hono's own default error handler, served on Node
// by @hono/node-server's request listener.
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { proxy } from 'hono/proxy';
import { freshTokens } from '@refreshkit/hono';
import type { AdapterAppOptions, AdapterUnderTest } from './adapter-conformance.js';

type NodeEnv = { Bindings: HttpBindings };

function honoApp({ cache, keyOf, forward, apiOrigin }: AdapterAppOptions): Hono<NodeEnv> {
  const app = new Hono<NodeEnv>();
  app.use(
    freshTokens<NodeEnv>({ cache, key: (c) => keyOf(c.env.incoming), ...(forward !== undefined && { forward }) }),
  );
  if (forward !== undefined) {
    app.all('/proxy/*', (c) =>
      proxy(`${apiOrigin}${c.req.path.replace(/^\/proxy/, '')}`, { ...c.req, headers: c.req.header() }),
    );
  }
  app.get('/token', async (c) => c.json({ token: await c.get('tokens').getAccessToken() }));
  for (const [path, target] of [
    ['/me', `${apiOrigin}/me`],
    ['/elsewhere', 'https://elsewhere.example.com/me'],
  ] as const) {
    app.get(path, async (c) => {
      const upstream = await c.var.tokens.fetch(target);
      return c.json(await upstream.json(), upstream.status as 200);
    });
  }
  app.get('/plain', (c) => c.text('no tokens needed'));
  return app;
}

/** Hono 4 on Node. */
export const HONO_ADAPTERS: readonly AdapterUnderTest[] = [
  {
    name: 'Hono 4',
    app: (options) => getRequestListener(honoApp(options).fetch),
    freshTokens: (options) => freshTokens(options as Parameters<typeof freshTokens>[0]),
  },
];
