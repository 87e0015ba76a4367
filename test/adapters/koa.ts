// Koa 2 and 3 as adapter conformance entries: an app written the way Koa
// users write one, answered by Koa's own error handling.
import Koa3 from 'koa';
import Koa2 from 'koa2';
import proxy from 'koa-proxies';
import { freshTokens } from '@refreshkit/koa';
import type { AdapterAppOptions, AdapterUnderTest } from './adapter-conformance.js';

function koaApp(makeApp: () => Koa3, { cache, keyOf, forward, apiOrigin }: AdapterAppOptions): Koa3 {
  const app = makeApp();
  app.silent = true;
  app.use(freshTokens({ cache, key: (ctx) => keyOf(ctx.req), ...(forward !== undefined && { forward }) }));
  if (forward !== undefined) {
    app.use(
      proxy('/proxy', { target: apiOrigin, changeOrigin: true, rewrite: (path) => path.replace(/^\/proxy/, '') }),
    );
  }
  app.use(async (ctx) => {
    if (ctx.path === '/token') ctx.body = { token: await ctx.state.tokens.getAccessToken() };
    else if (ctx.path === '/me' || ctx.path === '/elsewhere') {
      const target = ctx.path === '/me' ? `${apiOrigin}/me` : 'https://elsewhere.example.com/me';
      const upstream = await ctx.state.tokens.fetch(target);
      ctx.status = upstream.status;
      ctx.body = await upstream.json();
    } else ctx.body = 'no tokens needed';
  });
  return app;
}

function koaAdapter(name: string, makeApp: () => Koa3): AdapterUnderTest {
  return {
    name,
    app: (options) => koaApp(makeApp, options).callback(),
    freshTokens: (options) => freshTokens(options as Parameters<typeof freshTokens>[0]),
  };
}

/** Koa 2 and 3. */
export const KOA_ADAPTERS: readonly AdapterUnderTest[] = [
  koaAdapter('Koa 2', () => new (Koa2 as unknown as typeof Koa3)()),
  koaAdapter('Koa 3', () => new Koa3()),
];
