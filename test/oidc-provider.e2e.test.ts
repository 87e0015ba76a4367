import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  createPkcePair,
  OAuth2Endpoint,
  ReauthenticationRequiredError,
  TokenCache,
  type TokenSet,
} from '@refreshkit/core';
import { runDemo } from '@refreshkit/example-demo';
import { createExpressApp } from '@refreshkit/example-express-app';
import { createFastifyApp } from '@refreshkit/example-fastify-app';
import { createKoaApp } from '@refreshkit/example-koa-app';
import {
  AuthorizationServer,
  BASIC_CLIENT,
  POST_CLIENT,
  ProtectedApi,
  REDIRECT_URI,
  sandboxCache,
  type SandboxClient,
} from '@refreshkit/example-sandbox';
import { runJobs } from '@refreshkit/example-worker';
import { fastifyListener } from './adapters/fastify.js';

let authorizationServer: AuthorizationServer;
let api: ProtectedApi;
beforeAll(async () => {
  authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 3 });
  api = await ProtectedApi.start(authorizationServer);
});
afterAll(() => Promise.all([api?.close(), authorizationServer?.close()]));

function endpointFor(client: SandboxClient): OAuth2Endpoint {
  return new OAuth2Endpoint({
    tokenUrl: authorizationServer.tokenUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    authMethod: client.authMethod,
  });
}

function cacheFor(client: SandboxClient = BASIC_CLIENT): TokenCache {
  return sandboxCache(authorizationServer, api.origin, { client });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OAuth2Endpoint against oidc-provider (rotation always on)', () => {
  it.each([BASIC_CLIENT, POST_CLIENT])(
    'refreshes with $authMethod and receives a rotated refresh token',
    async (client) => {
      const initial = await authorizationServer.login(`rotate-${client.authMethod}`, client);
      const refreshed = await endpointFor(client).refresh(initial.refreshToken!);
      expect(refreshed.refreshToken).toBeDefined();
      expect(refreshed.refreshToken).not.toBe(initial.refreshToken);
      expect((await authorizationServer.introspect(refreshed.accessToken)).active).toBe(true);
      // Presenting the old refresh token again is reuse: the server revokes the grant.
      await expect(endpointFor(client).refresh(initial.refreshToken!)).rejects.toBeInstanceOf(
        ReauthenticationRequiredError,
      );
      await expect(endpointFor(client).refresh(refreshed.refreshToken!)).rejects.toBeInstanceOf(
        ReauthenticationRequiredError,
      );
    },
  );

  it.each([BASIC_CLIENT, POST_CLIENT])('obtains client-credentials tokens with $authMethod', async (client) => {
    const sentAt = Date.now();
    const tokens = await endpointFor(client).clientCredentials();
    const answeredAt = Date.now();
    expect(tokens.refreshToken).toBeUndefined();
    // 2 s tokens, counted from the send time less a second of the server's rounding.
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(sentAt + 1_000);
    expect(tokens.expiresAt).toBeLessThanOrEqual(answeredAt + 2_000);
    expect(await authorizationServer.introspect(tokens.accessToken)).toMatchObject({
      active: true,
      client_id: client.clientId,
    });
  });
});

describe('authorization-code exchange with PKCE against oidc-provider', () => {
  const DAY_MS = 86_400_000;

  it.each([BASIC_CLIENT, POST_CLIENT])(
    'exchanges a code with its verifier ($authMethod) for tokens with the provider fields and the refresh-token expiry',
    async (client) => {
      const pkce = await createPkcePair();
      const code = await authorizationServer.authorize(`code-${client.authMethod}`, {
        client,
        codeChallenge: pkce.codeChallenge,
      });
      const sentAt = Date.now();
      const tokens = await endpointFor(client).authorizationCode({
        code,
        redirectUri: REDIRECT_URI,
        codeVerifier: pkce.codeVerifier,
      });
      const answeredAt = Date.now();
      expect(tokens.refreshToken).toBeDefined();
      expect(tokens.extras?.instance_url).toBe(`${authorizationServer.issuer}/instance`);
      expect(typeof tokens.extras?.id_token).toBe('string');
      // A day's refresh token, counted from the send time less the server's second of rounding.
      expect(tokens.refreshTokenExpiresAt).toBeGreaterThanOrEqual(sentAt + DAY_MS - 2_000);
      expect(tokens.refreshTokenExpiresAt).toBeLessThanOrEqual(answeredAt + DAY_MS);
      expect((await authorizationServer.introspect(tokens.accessToken)).active).toBe(true);

      // The first set refreshes like any other, keeping the sign-in's fields.
      const refreshed = await endpointFor(client).refresh(tokens.refreshToken!, { previous: tokens });
      expect(refreshed.extras?.instance_url).toBe(`${authorizationServer.issuer}/instance`);
      expect(refreshed.refreshTokenExpiresAt).toBeGreaterThanOrEqual(tokens.refreshTokenExpiresAt!);
    },
  );

  it.each([
    ['another verifier', async () => (await createPkcePair()).codeVerifier],
    ['no verifier', async () => undefined],
  ])('refuses the code with %s as ReauthenticationRequiredError (invalid_grant)', async (_what, verifierOf) => {
    const pkce = await createPkcePair();
    const code = await authorizationServer.authorize('wrong-verifier', { codeChallenge: pkce.codeChallenge });
    const codeVerifier = await verifierOf();
    const error = await endpointFor(BASIC_CLIENT)
      .authorizationCode({ code, redirectUri: REDIRECT_URI, ...(codeVerifier && { codeVerifier }) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthenticationRequiredError);
    expect((error as ReauthenticationRequiredError).reason).toBe('invalid_grant');
    expect((error as Error).message).toContain('start the sign-in again');
    expect((error as Error).message).not.toContain(code);
  });

  it('refuses a code presented twice', async () => {
    const pkce = await createPkcePair();
    const code = await authorizationServer.authorize('code-reuse', { codeChallenge: pkce.codeChallenge });
    const exchange = () =>
      endpointFor(BASIC_CLIENT).authorizationCode({ code, redirectUri: REDIRECT_URI, codeVerifier: pkce.codeVerifier });
    await exchange();
    await expect(exchange()).rejects.toBeInstanceOf(ReauthenticationRequiredError);
  });

  it('refuses a code sent with another redirect URI', async () => {
    const code = await authorizationServer.authorize('other-redirect');
    await expect(
      endpointFor(BASIC_CLIENT).authorizationCode({ code, redirectUri: 'http://127.0.0.1/elsewhere' }),
    ).rejects.toBeInstanceOf(ReauthenticationRequiredError);
  });
});

describe('refresh tokens with an idle lifetime (oidc-provider, 3 s)', () => {
  let idleServer: AuthorizationServer;
  beforeAll(async () => {
    idleServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 2, refreshTokenIdleSeconds: 3 });
  });
  afterAll(() => idleServer?.close());

  /** Waits until the server must consider a refresh token with this stated expiry dead. */
  const pastExpiry = async (tokens: TokenSet) => {
    // refreshTokenExpiresAt is up to a second early (the server counts whole seconds).
    await sleep(Math.max(0, tokens.refreshTokenExpiresAt! + 1_100 - Date.now()));
  };

  it("keeps a grant alive past its first refresh token's idle expiry by refreshing within it", async () => {
    const endpoint = idleServer.endpointFor();
    const first = await idleServer.login('sliding');
    let current = first;
    for (let i = 0; i < 3; i++) {
      await sleep(1_200);
      current = await endpoint.refresh(current.refreshToken!, { previous: current });
      expect(current.refreshTokenExpiresAt).toBeGreaterThan(Date.now());
    }
    expect(Date.now()).toBeGreaterThan(first.refreshTokenExpiresAt! + 1_000);
    expect(current.extras?.instance_url).toBe(`${idleServer.issuer}/instance`);
  });

  it('loses a grant left idle past refreshTokenExpiresAt: the refresh fails as ReauthenticationRequiredError', async () => {
    const tokens = await idleServer.login('idle');
    await pastExpiry(tokens);
    await expect(idleServer.endpointFor().refresh(tokens.refreshToken!)).rejects.toBeInstanceOf(
      ReauthenticationRequiredError,
    );
  });

  it('takes the refresh-token expiry from refreshTokenLifetime when the server does not say, and the refresh_in hint', async () => {
    const silent = await AuthorizationServer.start({
      refreshTokenIdleSeconds: 3,
      announceRefreshTokenExpiry: false,
      refreshInSeconds: 1,
    });
    try {
      const sentAt = Date.now();
      const tokens = await silent.login('configured', BASIC_CLIENT, { refreshTokenLifetime: { idleMs: 2_000 } });
      const answeredAt = Date.now();
      expect(tokens.refreshTokenExpiresAt).toBeGreaterThanOrEqual(sentAt + 2_000);
      expect(tokens.refreshTokenExpiresAt).toBeLessThanOrEqual(answeredAt + 2_000);
      expect(tokens.suggestedRefreshAt).toBeGreaterThanOrEqual(sentAt + 1_000);
      expect(tokens.suggestedRefreshAt).toBeLessThanOrEqual(answeredAt + 1_000);
      const unconfigured = await silent.login('unconfigured');
      expect(unconfigured.refreshTokenExpiresAt).toBeUndefined();
    } finally {
      await silent.close();
    }
  });
});

describe('TokenCache against oidc-provider', () => {
  it('serves bursts across several keys and expiries with no refresh token ever presented twice', async () => {
    const cache = cacheFor();
    const keys = ['burst-a', 'burst-b', 'burst-c', 'burst-d'];
    for (const key of keys) await cache.set(key, await authorizationServer.login(key));
    const reusesBefore = authorizationServer.stats.refreshTokenReuses;
    for (let round = 0; round < 4; round++) {
      const burst = Array.from({ length: 300 }, (_, i) => cache.getAccessToken(keys[i % keys.length]!));
      expect((await Promise.all(burst)).every((token) => token.length > 0)).toBe(true);
      await sleep(1_100); // into the refresh window (at most half of the 2 s counted), then past expiry
    }
    expect(authorizationServer.stats.refreshTokenReuses).toBe(reusesBefore);
    expect(cache.stats().failures).toBe(0);
    for (const key of keys) {
      expect((await authorizationServer.introspect(await cache.getAccessToken(key))).active).toBe(true);
    }
  });
});

describe.each([
  ['Express', (cache: TokenCache) => createExpressApp({ cache, apiOrigin: api.origin })],
  ['Koa', (cache: TokenCache) => createKoaApp({ cache, apiOrigin: api.origin }).callback()],
  ['Fastify', (cache: TokenCache) => fastifyListener(createFastifyApp({ cache, apiOrigin: api.origin }))],
])('the %s example app', (_name, makeApp) => {
  it('calls the protected API with the user token and recovers a revoked token with one refresh and retry', async () => {
    const cache = cacheFor();
    const user = `app-user-${_name}`;
    const tokens = await authorizationServer.login(user);
    await cache.set(user, { ...tokens, expiresAt: Date.now() + 60_000 }); // no expiry-driven refresh in this test
    const app = makeApp(cache);
    await request(app)
      .get('/profile')
      .set('x-user-id', user)
      .expect(200, { sub: user, clientId: BASIC_CLIENT.clientId });

    await authorizationServer.revokeAccessTokenOnly(tokens.accessToken);
    const refreshesBefore = cache.stats().refreshes;
    const unauthorizedBefore = api.count(401);
    await request(app)
      .get('/profile')
      .set('x-user-id', user)
      .expect(200, { sub: user, clientId: BASIC_CLIENT.clientId });
    expect(cache.stats().refreshes - refreshesBefore).toBe(1);
    expect(api.count(401) - unauthorizedBefore).toBe(1);
  });

  it('answers 401 for a user who never signed in', async () => {
    const response = await request(makeApp(cacheFor())).get('/profile').set('x-user-id', 'stranger').expect(401);
    expect(response.text).toContain('Sign-in required');
  });
});

describe('the worker example', () => {
  it('runs its jobs across token expiries with client-credentials tokens', async () => {
    const cache = sandboxCache(authorizationServer, api.origin, { grant: 'client_credentials' });
    const before = authorizationServer.stats.clientCredentialsGrants;
    const results = await runJobs({ cache, identity: 'reports', url: `${api.origin}/me`, jobs: 8, intervalMs: 400 });
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    const grants = authorizationServer.stats.clientCredentialsGrants - before;
    expect(grants).toBeGreaterThanOrEqual(2);
    expect(grants).toBeLessThanOrEqual(4);
  });
});

describe('the demo', () => {
  it('finishes a short run with no failed request and no reused refresh token', async () => {
    const summary = await runDemo({ durationMs: 5_000, accessTokenTtlSeconds: 3, users: 3, concurrency: 6 });
    expect(summary.requests).toBeGreaterThan(0);
    expect(summary.failedRequests).toBe(0);
    expect(summary.refreshTokenReuses).toBe(0);
    expect(summary.tokenEndpointCalls).toBeGreaterThanOrEqual(3);
  });
});
