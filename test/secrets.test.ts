import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { inspect } from 'node:util';
import request from 'supertest';
import { InvalidTokenResponseError, OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { freshTokens } from '@refreshkit/express';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestRedis } from './support/redis-server.js';
import { json, TokenServer } from './support/token-server.js';

const ACCESS = 'SENTINEL-ACCESS-3f9a1c';
const REFRESH = 'SENTINEL-REFRESH-7b2e44';
const SECRET = 'SENTINEL-CLIENT-SECRET-c81d';
const NEXT_ACCESS = 'SENTINEL-NEXT-ACCESS-0e5f';
const ID_TOKEN = 'SENTINEL-ID-TOKEN-a4c2';
const USER_TOKEN = 'SENTINEL-SLACK-USER-TOKEN-9d01';
const CODE = 'SENTINEL-AUTH-CODE-55e7';
const VERIFIER = 'SENTINEL-VERIFIER-0123456789abcdefghijklmnopqrstuv';
const SENTINELS = [ACCESS, REFRESH, SECRET, NEXT_ACCESS, ID_TOKEN, USER_TOKEN, CODE, VERIFIER];

let server: TokenServer;
let redis: TestRedis;
beforeAll(async () => {
  [server, redis] = await Promise.all([TokenServer.start(), TestRedis.start()]);
});
afterAll(() => Promise.all([server.close(), redis.stop()]));

/** Everything a secret could leak through, for one value. */
function surfaces(value: unknown): string[] {
  const texts = [inspect(value, { depth: 10 }), inspect(value, { depth: 10, showHidden: true })];
  try {
    texts.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular values cannot leak through JSON.
  }
  if (value instanceof Error) texts.push(value.message, value.stack ?? '');
  return texts;
}

function expectNoSentinel(values: unknown[]): void {
  for (const value of values) {
    for (const text of surfaces(value)) {
      for (const sentinel of SENTINELS) {
        if (text.includes(sentinel)) throw new Error(`Leaked ${sentinel} in: ${text.slice(0, 500)}`);
      }
    }
  }
}

/** Server answers that echo every secret they saw, one per error path. */
const echoes: [string, Parameters<typeof json>[1], unknown][] = [
  ['invalid_grant', 400, { error: 'invalid_grant', error_description: `bad ${REFRESH} for ${SECRET}` }],
  ['invalid_client', 401, { error: 'invalid_client', error_description: `secret ${SECRET} rejected` }],
  ['server error', 500, { error: 'server_error', error_description: `failed on ${REFRESH}` }],
  ['rate limit', 429, { error: 'slow_down', error_description: REFRESH }],
  ['unsupported token type', 200, { access_token: NEXT_ACCESS, refresh_token: REFRESH, token_type: 'mac' }],
  [
    'access token with CR LF',
    200,
    { access_token: `${NEXT_ACCESS}\r\nX-Leak: ${NEXT_ACCESS}`, refresh_token: REFRESH },
  ],
  ['refresh token echoed in the error field', 400, { error: `invalid_grant ${REFRESH}` }],
  ['client secret echoed in the error field', 401, { error: SECRET }],
  ['refresh token echoed URL-encoded in the error field', 503, { error: encodeURIComponent(`${REFRESH}/x`) }],
  [
    'credentials among the extras echoed in the description',
    400,
    {
      error: 'invalid_request',
      error_description: `${ID_TOKEN} ${USER_TOKEN}`,
      id_token: ID_TOKEN,
      authed_user: { access_token: USER_TOKEN },
    },
  ],
  [
    'an unusable 2xx carrying credentials among its extras',
    200,
    { access_token: NEXT_ACCESS, token_type: 'DPoP', id_token: ID_TOKEN, authed_user: { access_token: USER_TOKEN } },
  ],
];

describe('secrets never leak', () => {
  it.each(echoes)('through %s errors, events and inspect', async (_name, status, body) => {
    server.handler = (_request, res) => json(res, status, body);
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({
        tokenUrl: server.tokenUrl,
        clientId: 'client',
        clientSecret: SECRET,
        retry: { maxAttempts: 2, baseDelayMs: 1 },
      }),
      allowedOrigins: ['http://127.0.0.1:1'],
    });
    const events: unknown[] = [];
    for (const name of ['refresh', 'refreshError', 'reauthenticationRequired', 'saveError'] as const) {
      cache.on(name, (payload) => events.push(payload));
    }
    await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    const error = await cache.getAccessToken('user').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const fetchError = await cache.fetch('user', 'https://elsewhere.example/').catch((e: unknown) => e);
    expectNoSentinel([error, fetchError, ...events, cache, cache.stats()]);
    expect(events.length).toBeGreaterThan(0);
  });

  it.each([
    ['invalid_grant', 400, { error: 'invalid_grant', error_description: `code ${CODE} verifier ${VERIFIER}` }],
    ['invalid_client', 401, { error: 'invalid_client', error_description: `${CODE} ${SECRET}` }],
    ['server error', 500, { error: 'server_error', error_description: `${CODE} ${VERIFIER}` }],
    ['an unusable 2xx', 200, { access_token: `${NEXT_ACCESS}\n`, id_token: ID_TOKEN, code: CODE }],
  ] as const)('through authorization-code exchange %s errors', async (_name, status, body) => {
    server.handler = (_request, res) => json(res, status, body);
    const endpoint = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'client',
      clientSecret: SECRET,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const error = await endpoint
      .authorizationCode({ code: CODE, redirectUri: 'https://app.example.com/cb', codeVerifier: VERIFIER })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expectNoSentinel([error, endpoint]);
  });

  it('through JSON-escaped echoes (`\\/`, `\\u00XX`) kept in the error response body', async () => {
    const escapedRefresh = `${REFRESH}/r`;
    const text = `{"error":"invalid_request","error_description":"${escapedRefresh.replace(/\//g, '\\/')} ${[...SECRET].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`;
    server.handler = (_request, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(text);
    };
    const endpoint = new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', clientSecret: SECRET });
    const error = await endpoint.refresh(escapedRefresh).catch((e: unknown) => e);
    const body = (error as { response?: { body: string } }).response?.body ?? '';
    expect(body).toContain('[REDACTED]');
    expectNoSentinel([error, body]);
  });

  it('never hands a token that is not a valid header value to fetch, so its error cannot quote it', async () => {
    const broken = `${NEXT_ACCESS}\r\nX-Injected: 1`;
    server.handler = (_request, res) => json(res, 200, { access_token: broken, expires_in: 3600 });
    const sent: unknown[] = [];
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', clientSecret: SECRET }),
      allowedOrigins: ['https://api.example.com'],
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        sent.push(input);
        return globalThis.fetch(input, init);
      },
    });
    await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    const error = await cache.fetch('user', 'https://api.example.com/me').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(sent).toHaveLength(0);
    expectNoSentinel([error]);
    expect(inspect(error, { showHidden: true, depth: 10 })).not.toContain('X-Injected');
  });

  it('through the Express middleware answers', async () => {
    server.handler = (_request, res) => json(res, 400, { error: 'invalid_grant', error_description: REFRESH });
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', clientSecret: SECRET }),
    });
    await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
    const app = express();
    app.use(freshTokens({ cache, key: () => 'user' }));
    app.get('/', async (req, res, next) => {
      try {
        res.send(await req.tokens.getAccessToken());
      } catch (error) {
        next(error);
      }
    });
    let seen: unknown;
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen = error;
      const { status = 500, message } = error as { status?: number; message: string };
      res.status(status).json({ error: message });
    });
    const response = await request(app).get('/').expect(401);
    expectNoSentinel([response.text, JSON.stringify(response.headers), seen]);
  });

  it('through Redis store errors', async () => {
    const prefix = `secrets-${Date.now()}:`;
    const store = new RedisTokenStore({
      redis: redis.url,
      prefix,
      encryptionKey: { id: 'k1', key: Buffer.alloc(32, 1) },
    });
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', clientSecret: SECRET }),
      store,
    });
    const extras = {
      instance_url: 'https://eu.example.com',
      id_token: ID_TOKEN,
      authed_user: { access_token: USER_TOKEN },
    };
    await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 60_000, extras });
    // Extras are stored with the tokens, encrypted with them, and come back whole.
    expect((await store.get('user'))?.tokens.extras).toEqual(extras);
    const wrongKey = new RedisTokenStore({
      redis: redis.url,
      prefix,
      encryptionKey: { id: 'k1', key: Buffer.alloc(32, 2) },
    });
    const corrupt = await Promise.resolve(wrongKey.get('user')).catch((e: unknown) => e);
    const admin = redis.client();
    const raw = await admin.hgetall(`${prefix}{user}`);
    admin.disconnect();
    expectNoSentinel([corrupt, store, wrongKey, raw]);
    await Promise.all([store.close(), wrongKey.close()]);
  });
});
