// Express 4 and 5 as adapter conformance entries: an app written the way
// Express users write one, answered by Express's own final handler.
import type { Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { freshTokens } from '@refreshkit/express';
import type { AdapterAppOptions, AdapterUnderTest } from './adapter-conformance.js';

function expressApp(makeApp: () => Express, { cache, keyOf, forward, apiOrigin }: AdapterAppOptions): Express {
  const app = makeApp();
  app.use(freshTokens({ cache, key: keyOf, ...(forward !== undefined && { forward }) }));
  if (forward !== undefined) app.use('/proxy', createProxyMiddleware({ target: apiOrigin, changeOrigin: true }));
  app.get('/token', async (req, res, next) => {
    try {
      res.json({ token: await req.tokens.getAccessToken() });
    } catch (error) {
      next(error);
    }
  });
  for (const [path, target] of [
    ['/me', `${apiOrigin}/me`],
    ['/elsewhere', 'https://elsewhere.example.com/me'],
  ] as const) {
    app.get(path, async (req, res, next) => {
      try {
        const upstream = await req.tokens.fetch(target);
        res.status(upstream.status).json(await upstream.json());
      } catch (error) {
        next(error);
      }
    });
  }
  app.get('/plain', (_req, res) => void res.send('no tokens needed'));
  return app;
}

function expressAdapter(name: string, makeApp: () => Express): AdapterUnderTest {
  return {
    name,
    app: (options) => expressApp(makeApp, options),
    freshTokens: (options) => freshTokens(options as Parameters<typeof freshTokens>[0]),
  };
}

/** Express 4 and 5. */
export const EXPRESS_ADAPTERS: readonly AdapterUnderTest[] = [
  expressAdapter('Express 4', () => (express4 as unknown as () => Express)()),
  expressAdapter('Express 5', () => express5()),
];
