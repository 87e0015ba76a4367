import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import proxy from 'koa-proxies';
import request from 'supertest';
import { ReauthenticationRequiredError, TokenCache, TokenEndpointUnavailableError } from '@refreshkit/core';
import { ApiServer } from '../../../test/support/api-server.js';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { freshTokens } from './fresh-tokens.js';

let api: ApiServer;
beforeAll(async () => {
  api = await ApiServer.start();
});
afterAll(() => api.close());
beforeEach(() => {
  api.seen.length = 0;
  api.isValid = () => true;
});

const majors: [string, () => Koa3][] = [
  ['Koa 2', () => new (Koa2 as unknown as typeof Koa3)()],
  ['Koa 3', () => new Koa3()],
];

async function setup(makeApp: () => Koa3, options: { forward?: boolean } = {}) {
  const endpoint = new ScriptedEndpoint(Date.now);
  const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin] });
  await cache.set('alice', {
    accessToken: 'secret-access-0',
    refreshToken: 'secret-refresh-0',
    expiresAt: Date.now() + 3_600_000,
  });
  let keyCalls = 0;
  const app = makeApp();
  app.silent = true;
  app.use(
    freshTokens({
      cache,
      key: async (ctx) => {
        keyCalls++;
        return ctx.get('x-user') || undefined;
      },
      ...(options.forward && { forward: api.origin }),
    }),
  );
  if (options.forward) {
    app.use(
      proxy('/proxy', { target: api.origin, changeOrigin: true, rewrite: (path) => path.replace(/^\/proxy/, '') }),
    );
  }
  app.use(async (ctx) => {
    if (ctx.path === '/token') ctx.body = { token: await ctx.state.tokens.getAccessToken() };
    else if (ctx.path === '/me') {
      const upstream = await ctx.state.tokens.fetch(`${api.origin}/me`);
      ctx.status = upstream.status;
      ctx.body = await upstream.json();
    } else ctx.body = 'no tokens needed';
  });
  return { server: app.callback(), cache, endpoint, keyCalls: () => keyCalls };
}

describe.each(majors)('freshTokens with %s', (_major, makeApp) => {
  it('gives handlers ctx.state.tokens.getAccessToken() and fetch()', async () => {
    const { server } = await setup(makeApp);
    await request(server).get('/token').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
    await request(server).get('/me').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
    expect(api.seen[0]!.authorization).toBe('Bearer secret-access-0');
  });

  it('does no work for requests whose handler never asks for a token', async () => {
    const { server, keyCalls } = await setup(makeApp);
    await request(server).get('/plain').set('x-user', 'alice').expect(200);
    expect(keyCalls()).toBe(0);
  });

  it('throws 401 with an exposed, secret-free message for no key or an unknown key', async () => {
    const { server } = await setup(makeApp);
    await request(server).get('/token').expect(401, 'Sign-in required: this request has no token key');
    await request(server)
      .get('/token')
      .set('x-user', 'mallory')
      .expect(401, 'Sign-in required: no usable token for this request');
  });

  it('throws 401 for a dead grant', async () => {
    const { server, cache, endpoint } = await setup(makeApp);
    await cache.invalidate('alice');
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
    const response = await request(server).get('/me').set('x-user', 'alice').expect(401);
    expect(response.text).not.toContain('secret-');
  });

  it('throws 503 with Retry-After when the endpoint is unreachable and no token is valid', async () => {
    const { server, cache, endpoint } = await setup(makeApp);
    await cache.invalidate('alice');
    endpoint.next = () => Promise.reject(new TokenEndpointUnavailableError('down', { retryAfterMs: 2_500 }));
    const response = await request(server).get('/token').set('x-user', 'alice').expect(503);
    expect(response.headers['retry-after']).toBe('3');
  });

  it('recovers from an upstream that revoked the token: one refresh, one retry, then 200', async () => {
    const { server, endpoint } = await setup(makeApp);
    api.isValid = (token) => token !== 'secret-access-0';
    await request(server).get('/me').set('x-user', 'alice').expect(200, { token: 'access-1' });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('forwards the bearer through koa-proxies to the allowed origin', async () => {
    const { server } = await setup(makeApp, { forward: true });
    await request(server).get('/proxy/me').set('x-user', 'alice').set('authorization', 'Bearer forged').expect(200);
    expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([['/me', 'Bearer secret-access-0']]);
  });
});

describe('freshTokens (Koa) options', () => {
  it('rejects a forward origin outside allowedOrigins and returns a named middleware', () => {
    const cache = new TokenCache({
      endpoint: new ScriptedEndpoint(Date.now),
      allowedOrigins: ['https://api.example.com'],
    });
    expect(() => freshTokens({ cache, key: () => 'k', forward: 'https://evil.example.com' })).toThrow(TypeError);
    expect(freshTokens({ cache, key: () => 'k' }).name).toBe('freshTokensMiddleware');
  });
});

describe('freshTokens typing', () => {
  interface AppState {
    user?: { id: string };
  }

  it('reads ctx.state as Koa middleware do, and types ctx.state.tokens in a Koa<AppState> app', async () => {
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), allowedOrigins: [api.origin] });
    await cache.set('alice', { accessToken: 'secret-access-0', refreshToken: 'secret-refresh-0' });
    const app = new Koa3<AppState>();
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
    await request(app.callback())
      .get('/')
      .set('x-user', 'alice')
      .expect(200, { token: 'secret-access-0', user: 'alice' });
  });
});
