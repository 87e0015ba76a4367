import Koa from 'koa';
import type { TokenCache } from '@refreshkit/core';
import { freshTokens } from '@refreshkit/koa';

/** Options of {@link createKoaApp}. */
export interface KoaAppOptions {
  /** The cache holding each user's tokens. */
  readonly cache: TokenCache;
  /** Origin of the protected API the app calls (must be in the cache's `allowedOrigins`). */
  readonly apiOrigin: string;
}

/**
 * A Koa app whose `/profile` route calls the protected API with the signed-in
 * user's fresh bearer. The user id comes from an `x-user-id` header,
 * standing in for the real app's authentication.
 */
export function createKoaApp({ cache, apiOrigin }: KoaAppOptions): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(freshTokens<Koa.Context>({ cache, key: (ctx) => ctx.get('x-user-id') || undefined }));
  app.use(async (ctx) => {
    if (ctx.method !== 'GET' || ctx.path !== '/profile') return;
    const upstream = await ctx.state.tokens.fetch(`${apiOrigin}/me`);
    ctx.status = upstream.status;
    ctx.body = await upstream.json();
  });
  return app;
}
