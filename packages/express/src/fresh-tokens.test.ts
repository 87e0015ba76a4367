import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { ErrorRequestHandler, Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import { createProxyMiddleware } from 'http-proxy-middleware';
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

const majors: [string, () => Express][] = [
  ['Express 4', () => (express4 as unknown as () => Express)()],
  ['Express 5', () => express5()],
];

const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  const {
    status = 500,
    expose = false,
    headers = {},
  } = error as { status?: number; expose?: boolean; headers?: Record<string, string> };
  res
    .status(status)
    .set(headers)
    .json({ error: expose ? (error as Error).message : 'Internal error' });
};

async function setup(makeApp: () => Express, options: { forward?: boolean } = {}) {
  const endpoint = new ScriptedEndpoint(Date.now);
  const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin] });
  await cache.set('alice', {
    accessToken: 'secret-access-0',
    refreshToken: 'secret-refresh-0',
    expiresAt: Date.now() + 3_600_000,
  });
  let keyCalls = 0;
  const app = makeApp();
  app.use(
    freshTokens({
      cache,
      key: async (req) => {
        keyCalls++;
        return (req.headers['x-user'] as string | undefined) ?? undefined;
      },
      ...(options.forward && { forward: api.origin }),
    }),
  );
  if (options.forward) {
    app.use('/proxy', createProxyMiddleware({ target: api.origin, changeOrigin: true }));
  }
  app.get('/token', async (req, res, next) => {
    try {
      res.json({ token: await req.tokens.getAccessToken() });
    } catch (error) {
      next(error);
    }
  });
  app.get('/me', async (req, res, next) => {
    try {
      const upstream = await req.tokens.fetch(`${api.origin}/me`);
      res.status(upstream.status).json(await upstream.json());
    } catch (error) {
      next(error);
    }
  });
  app.get('/plain', (_req, res) => void res.send('no tokens needed'));
  app.use(errorHandler);
  return { app, cache, endpoint, keyCalls: () => keyCalls };
}

describe.each(majors)('freshTokens with %s', (_major, makeApp) => {
  it('gives handlers req.tokens.getAccessToken() and req.tokens.fetch()', async () => {
    const { app } = await setup(makeApp);
    await request(app).get('/token').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
    await request(app).get('/me').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
    expect(api.seen[0]!.authorization).toBe('Bearer secret-access-0');
  });

  it('does no work for requests whose handler never asks for a token', async () => {
    const { app, keyCalls } = await setup(makeApp);
    await request(app).get('/plain').set('x-user', 'alice').expect(200);
    expect(keyCalls()).toBe(0);
  });

  it('answers 401 without secrets for a request with no key or an unknown key', async () => {
    const { app, endpoint } = await setup(makeApp);
    const noKey = await request(app).get('/token').expect(401);
    expect(noKey.body.error).toBe('Sign-in required: this request has no token key');
    const unknown = await request(app).get('/token').set('x-user', 'mallory').expect(401);
    expect(unknown.body.error).toBe('Sign-in required: no usable token for this request');
    expect(endpoint.calls).toHaveLength(0);
  });

  it('answers 401 for a dead grant', async () => {
    const { app, cache, endpoint } = await setup(makeApp);
    await cache.invalidate('alice');
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
    const response = await request(app).get('/me').set('x-user', 'alice').expect(401);
    expect(JSON.stringify(response.body)).not.toContain('secret-');
  });

  it('answers 503 with Retry-After when the token endpoint is unreachable and no token is valid', async () => {
    const { app, cache, endpoint } = await setup(makeApp);
    await cache.invalidate('alice');
    endpoint.next = () =>
      Promise.reject(new TokenEndpointUnavailableError('down', { upstreamStatus: 503, retryAfterMs: 7_000 }));
    const response = await request(app).get('/token').set('x-user', 'alice').expect(503);
    expect(response.headers['retry-after']).toBe('7');
  });

  it('recovers from an upstream that revoked the token: one refresh, one retry, then 200', async () => {
    const { app, endpoint } = await setup(makeApp);
    api.isValid = (token) => token !== 'secret-access-0';
    await request(app).get('/me').set('x-user', 'alice').expect(200, { token: 'access-1' });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('forwards the bearer through a real proxy to the allowed origin', async () => {
    const { app } = await setup(makeApp, { forward: true });
    await request(app).get('/proxy/me').set('x-user', 'alice').set('authorization', 'Bearer forged').expect(200);
    expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([['/me', 'Bearer secret-access-0']]);
  });
});

describe('freshTokens options', () => {
  it('rejects a forward origin outside the cache allowedOrigins, and bad options', () => {
    const cache = new TokenCache({
      endpoint: new ScriptedEndpoint(Date.now),
      allowedOrigins: ['https://api.example.com'],
    });
    expect(() => freshTokens({ cache, key: () => 'k', forward: 'https://evil.example.com' })).toThrow(
      "Expected `forward` to be one of the cache's `allowedOrigins`, got `https://evil.example.com` (string)",
    );
    expect(() => freshTokens({ cache, key: 'user' as never })).toThrow(
      'Expected `key` to be a function of the request',
    );
    expect(() => freshTokens({ cache: {} as TokenCache, key: () => 'k' })).toThrow(
      'Expected `cache` to be a TokenCache',
    );
  });

  it('returns a named middleware function', () => {
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now) });
    expect(freshTokens({ cache, key: () => 'k' }).name).toBe('freshTokensMiddleware');
  });
});
