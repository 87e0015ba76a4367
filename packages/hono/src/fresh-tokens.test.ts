// Hono-specific behaviour; what every adapter shares is in
// test/adapters.test.ts (the adapter conformance suite, on Node). Here the
// app runs as in a fetch runtime: Hono's own app.request(), no Node server,
// the upstream a fetch function handed to the cache.
import { describe, expect, it } from '@jest/globals';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TokenCache, TokenEndpointUnavailableError } from '@refreshkit/core';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { freshTokens, TokensHttpException, type TokensEnv } from './index.js';

const api = 'https://api.example.com';

/** A cache whose upstream answers with the Authorization header it was sent. */
async function setup() {
  const sent: string[] = [];
  const upstream = (async (_input: unknown, init?: RequestInit) => {
    const authorization = new Headers(init?.headers).get('authorization') ?? '';
    sent.push(authorization);
    return Response.json({ authorization });
  }) as typeof fetch;
  const endpoint = new ScriptedEndpoint(Date.now);
  const cache = new TokenCache({ endpoint, allowedOrigins: [api], fetch: upstream });
  await cache.set('alice', { accessToken: 'secret-access-0', refreshToken: 'secret-refresh-0' });
  return { cache, endpoint, sent };
}

async function tokenServiceDown(cache: TokenCache, endpoint: ScriptedEndpoint): Promise<void> {
  endpoint.next = () =>
    Promise.reject(new TokenEndpointUnavailableError('down', { upstreamStatus: 503, retryAfterMs: 2_000 }));
  await cache.invalidate('alice');
}

describe('freshTokens on Hono, with app.request() only', () => {
  it('types c.get("tokens") and c.var.tokens through the Variables of the app or of the middleware', async () => {
    const { cache, sent } = await setup();
    const app = new Hono<TokensEnv>()
      .use(freshTokens({ cache, key: (c) => c.req.header('x-user') }))
      .get('/token', async (c) => c.json({ token: await c.get('tokens').getAccessToken() }))
      .get('/me', async (c) => c.json(await (await c.var.tokens.fetch(`${api}/me`)).json()));
    const token = await app.request('/token', { headers: { 'x-user': 'alice' } });
    expect(await token.json()).toEqual({ token: 'secret-access-0' });
    const me = await app.request('/me', { headers: { 'x-user': 'alice' } });
    expect(await me.json()).toEqual({ authorization: 'Bearer secret-access-0' });
    expect(sent).toEqual(['Bearer secret-access-0']);
  });

  it('fails as an HTTPException: 401 without a key, 503 with Retry-After while the token service is down', async () => {
    const { cache, endpoint } = await setup();
    const seen: unknown[] = [];
    const app = new Hono();
    app.use(freshTokens({ cache, key: (c) => c.req.header('x-user') }));
    app.get('/token', async (c) => c.text(await c.var.tokens.getAccessToken()));
    app.onError((error, c) => {
      seen.push(error);
      return error instanceof HTTPException ? error.getResponse() : c.text('unexpected', 500);
    });
    const anonymous = await app.request('/token');
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toBe('Sign-in required: this request has no token key');
    await tokenServiceDown(cache, endpoint);
    const down = await app.request('/token', { headers: { 'x-user': 'alice' } });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('2');
    expect(await down.text()).toBe('Token service temporarily unavailable');
    expect(seen).toEqual([expect.any(TokensHttpException), expect.any(TokensHttpException)]);
    expect(seen[1]).toMatchObject({ cause: { code: 'ERR_TOKENS_UNAVAILABLE', status: 503 } });
  });

  it('with forward, gives the request the bearer before next(), replacing a forged one, or answers 503', async () => {
    const { cache, endpoint } = await setup();
    const app = new Hono();
    app.use(freshTokens({ cache, key: (c) => c.req.header('x-user'), forward: api }));
    app.all('/proxy/*', (c) => c.json({ forwarded: c.req.header('authorization') }));
    const forwarded = await app.request('/proxy/me', {
      method: 'POST',
      body: 'payload',
      headers: { 'x-user': 'alice', authorization: 'Bearer forged' },
    });
    expect(await forwarded.json()).toEqual({ forwarded: 'Bearer secret-access-0' });
    await tokenServiceDown(cache, endpoint);
    const down = await app.request('/proxy/me', { headers: { 'x-user': 'alice' } });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('2');
  });
});
