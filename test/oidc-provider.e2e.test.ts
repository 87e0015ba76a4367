import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { OAuth2Endpoint, ReauthenticationRequiredError, TokenCache } from '@refreshkit/core';
import { runDemo } from '@refreshkit/example-demo';
import { createExpressApp } from '@refreshkit/example-express-app';
import { createKoaApp } from '@refreshkit/example-koa-app';
import {
  AuthorizationServer,
  BASIC_CLIENT,
  POST_CLIENT,
  ProtectedApi,
  sandboxCache,
  type SandboxClient,
} from '@refreshkit/example-sandbox';
import { runJobs } from '@refreshkit/example-worker';

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
