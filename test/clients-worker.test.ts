// The worker example's undici loop against the sandbox: a real authorization
// server (oidc-provider, 3-second client-credentials tokens) and a protected
// API that checks each bearer with it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';
import { runUndiciJobs } from '@refreshkit/example-worker';

let authorizationServer: AuthorizationServer;
let api: ProtectedApi;
beforeAll(async () => {
  authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 3 });
  api = await ProtectedApi.start(authorizationServer);
});
afterAll(() => Promise.all([api?.close(), authorizationServer?.close()]));

describe('the worker example through undici', () => {
  it('runs its jobs across token expiries with undici request and the bearer interceptor', async () => {
    const cache = sandboxCache(authorizationServer, api.origin, { grant: 'client_credentials' });
    const before = authorizationServer.stats.clientCredentialsGrants;
    const results = await runUndiciJobs({
      cache,
      identity: 'reports',
      url: `${api.origin}/me`,
      jobs: 8,
      intervalMs: 400,
    });
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    const grants = authorizationServer.stats.clientCredentialsGrants - before;
    expect(grants).toBeGreaterThanOrEqual(2);
    expect(grants).toBeLessThanOrEqual(4);
  });
});
