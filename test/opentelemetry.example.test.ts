import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { TokenSet } from '@refreshkit/core';
import { createExpressApp, prometheusMetrics } from '@refreshkit/example-express-app';
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';

let authorizationServer: AuthorizationServer;
let api: ProtectedApi;
beforeAll(async () => {
  authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 3 });
  api = await ProtectedApi.start(authorizationServer);
});
afterAll(() => Promise.all([api.close(), authorizationServer.close()]));

describe('the Express example’s /metrics', () => {
  it('serves the cache’s metrics in Prometheus format through OpenTelemetry’s exporter, with no token in them', async () => {
    const cache = sandboxCache(authorizationServer, api.origin);
    const metrics = prometheusMetrics(cache);
    try {
      const login: TokenSet = await authorizationServer.login('metrics-user');
      await cache.set('metrics-user', login);
      const app = createExpressApp({ cache, apiOrigin: api.origin, metrics });
      for (let i = 0; i < 3; i++) await request(app).get('/profile').set('x-user-id', 'metrics-user').expect(200);
      // An expired token makes the next caller wait for a refresh.
      await cache.invalidate('metrics-user');
      await request(app).get('/profile').set('x-user-id', 'metrics-user').expect(200);

      const scrape = await request(app).get('/metrics').expect(200);
      expect(scrape.headers['content-type']).toMatch(/^text\/plain/);
      const samples = scrape.text.split('\n').filter((line) => line.startsWith('refreshkit_'));
      const value = (prefix: string): number =>
        Number(
          samples
            .find((line) => line.startsWith(prefix))
            ?.split(' ')
            .at(-1) ?? Number.NaN,
        );
      expect(value('refreshkit_token_requests_total{refreshkit_token_outcome="hit"')).toBeGreaterThanOrEqual(3);
      expect(value('refreshkit_token_requests_total{refreshkit_token_outcome="waited"')).toBe(1);
      expect(
        value(
          'refreshkit_refreshes_total{refreshkit_refresh_reason="invalidated",refreshkit_refresh_outcome="refreshed"',
        ),
      ).toBe(1);
      expect(value('refreshkit_endpoint_duration_count{refreshkit_endpoint_outcome="success"')).toBe(1);
      const current = await cache.getTokenSet('metrics-user');
      for (const secret of [login.accessToken, login.refreshToken!, current.accessToken, current.refreshToken!]) {
        expect(scrape.text).not.toContain(secret);
      }
      expect(scrape.text).not.toContain('metrics-user');
    } finally {
      await metrics.close();
      await cache.close();
    }
  });
});
