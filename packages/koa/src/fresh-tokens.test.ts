// Koa-specific typing; the behaviour every adapter shares is in
// test/adapters.test.ts (the adapter conformance suite).
import { describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import request from 'supertest';
import { TokenCache } from '@refreshkit/core';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { freshTokens } from './fresh-tokens.js';

interface AppState {
  user?: { id: string };
}

describe('freshTokens typing', () => {
  it('reads ctx.state as Koa middleware do, and types ctx.state.tokens in a Koa<AppState> app', async () => {
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now) });
    await cache.set('alice', { accessToken: 'secret-access-0', refreshToken: 'secret-refresh-0' });
    const app = new Koa<AppState>();
    app.silent = true;
    app.use(async (ctx, next) => {
      ctx.state.user = { id: ctx.get('x-user') };
      await next();
    });
    app.use(freshTokens({ cache, key: (ctx) => ctx.state.user?.id }));
    // @ts-expect-error -- with the app's state named, the resolver is checked against it
    freshTokens<AppState>({ cache, key: (ctx) => ctx.state.user?.name });
    app.use(freshTokens<AppState>({ cache, key: (ctx) => ctx.state.user?.id }));
    app.use(async (ctx) => {
      ctx.body = { token: await ctx.state.tokens.getAccessToken(), user: ctx.state.user?.id };
    });
    const response = await request(app.callback()).get('/').set('x-user', 'alice').expect(200);
    expect(response.body).toEqual({ token: 'secret-access-0', user: 'alice' });
  });
});
