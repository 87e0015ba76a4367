// The scenarios every framework adapter must pass, written once. An adapter
// is one entry of {@link AdapterUnderTest}: it builds an app the way users
// of its framework do, with the framework's own error handling, and the
// suite drives that app over real HTTP. A third-party adapter can run it by
// calling `describeAdapterConformance` from its own Jest suite.
import type { IncomingMessage, RequestListener } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ReauthenticationRequiredError, TokenCache, TokenEndpointUnavailableError } from '@refreshkit/core';
import { ApiServer } from '../support/api-server.js';
import { ScriptedEndpoint } from '../support/scripted-endpoint.js';

/** What the suite hands an adapter to build its app. */
export interface AdapterAppOptions {
  readonly cache: TokenCache;
  /** The key resolver, over the Node request; the adapter calls it with its framework's request. */
  readonly keyOf: (req: IncomingMessage) => Promise<string | undefined>;
  /** Passed on as the middleware's `forward` option. */
  readonly forward?: string;
  /** The protected API, for the `/me` route and the `/proxy` target. */
  readonly apiOrigin: string;
}

/**
 * One framework (and major version) under test. Its app mounts the adapter's
 * middleware with the options given, then serves:
 * - `GET /token`: `{ token }` from the request's `getAccessToken()`;
 * - `GET /me`: the upstream's status and JSON, through the request's `fetch` to `${apiOrigin}/me`;
 * - `GET /elsewhere`: the same `fetch` to `https://elsewhere.example.com/me`, an origin not allowed;
 * - `GET /plain`: text, without asking for a token;
 * - `/proxy/*`: with `forward`, proxied to `apiOrigin` by the framework's usual proxy middleware.
 * Errors go to the framework's own default error handling.
 */
export interface AdapterUnderTest {
  readonly name: string;
  app(options: AdapterAppOptions): RequestListener;
  /**
   * The adapter's middleware factory, for option checks. Where the framework
   * checks options when it loads a plugin (Fastify), it returns a promise.
   */
  freshTokens(options: {
    cache: TokenCache;
    key: unknown;
    forward?: string;
  }): { readonly name: string } | Promise<{ readonly name: string }>;
  /** The name the framework shows for the middleware; `freshTokensMiddleware` unless said. */
  readonly middlewareName?: string;
}

/** Registers the conformance scenarios for `adapter`. */
export function describeAdapterConformance(adapter: AdapterUnderTest): void {
  describe(`freshTokens conformance: ${adapter.name}`, () => {
    let api: ApiServer;
    beforeAll(async () => {
      api = await ApiServer.start();
    });
    afterAll(() => api.close());
    beforeEach(() => {
      api.seen.length = 0;
      api.isValid = () => true;
    });

    async function setup(options: { forward?: boolean } = {}) {
      const endpoint = new ScriptedEndpoint(Date.now);
      const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin] });
      await cache.set('alice', {
        accessToken: 'secret-access-0',
        refreshToken: 'secret-refresh-0',
        expiresAt: Date.now() + 3_600_000,
      });
      let keyCalls = 0;
      const app = adapter.app({
        cache,
        apiOrigin: api.origin,
        keyOf: async (req) => {
          keyCalls++;
          return (req.headers['x-user'] as string | undefined) ?? undefined;
        },
        ...(options.forward && { forward: api.origin }),
      });
      return { app, cache, endpoint, keyCalls: () => keyCalls };
    }

    it('gives handlers getAccessToken() and fetch() for the key the resolver names', async () => {
      const { app } = await setup();
      await request(app).get('/token').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
      await request(app).get('/me').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer secret-access-0']);
    });

    it('does no work for requests whose handler never asks for a token', async () => {
      const { app, keyCalls } = await setup();
      await request(app).get('/plain').set('x-user', 'alice').expect(200);
      expect(keyCalls()).toBe(0);
    });

    it('answers 401 with the message exposed for a request with no key or an unknown key, calling no endpoint', async () => {
      const { app, endpoint } = await setup();
      const noKey = await request(app).get('/token').expect(401);
      expect(noKey.text).toContain('Sign-in required: this request has no token key');
      const unknown = await request(app).get('/token').set('x-user', 'mallory').expect(401);
      expect(unknown.text).toContain('Sign-in required: no usable token for this request');
      expect(endpoint.calls).toHaveLength(0);
    });

    it('answers 401 for a dead grant, with no secret in the answer', async () => {
      const { app, cache, endpoint } = await setup();
      await cache.invalidate('alice');
      endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
      const response = await request(app).get('/me').set('x-user', 'alice').expect(401);
      expect(response.text).not.toContain('secret-');
    });

    it('answers 503 with Retry-After when the token endpoint is down and no token is valid', async () => {
      const { app, cache, endpoint } = await setup();
      await cache.invalidate('alice');
      endpoint.next = () =>
        Promise.reject(new TokenEndpointUnavailableError('down', { upstreamStatus: 503, retryAfterMs: 6_500 }));
      const response = await request(app).get('/token').set('x-user', 'alice').expect(503);
      expect(response.headers['retry-after']).toBe('7');
    });

    it('recovers from an upstream 401 with one refresh and one retry', async () => {
      const { app, endpoint } = await setup();
      api.isValid = (token) => token !== 'secret-access-0';
      await request(app).get('/me').set('x-user', 'alice').expect(200, { token: 'access-1' });
      expect(endpoint.calls).toHaveLength(1);
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer secret-access-0', 'Bearer access-1']);
    });

    it('refuses to send the bearer to an origin that is not allowed: a 500, nothing sent, nothing exposed', async () => {
      const { app } = await setup();
      const response = await request(app).get('/elsewhere').set('x-user', 'alice').expect(500);
      expect(response.text).not.toContain('secret-');
      expect(api.seen).toHaveLength(0);
    });

    it('forwards the bearer through a real proxy to the allowed origin, replacing a forged one', async () => {
      const { app } = await setup({ forward: true });
      await request(app).get('/proxy/me').set('x-user', 'alice').set('authorization', 'Bearer forged').expect(200);
      expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([['/me', 'Bearer secret-access-0']]);
    });

    it('refuses bad options at creation, and returns a named middleware', async () => {
      const cache = new TokenCache({
        endpoint: new ScriptedEndpoint(Date.now),
        allowedOrigins: ['https://api.example.com'],
      });
      const create = async (options: Parameters<AdapterUnderTest['freshTokens']>[0]) => adapter.freshTokens(options);
      await expect(create({ cache, key: () => 'k', forward: 'https://evil.example.com' })).rejects.toThrow(
        "Expected `forward` to be one of the cache's `allowedOrigins`, got `https://evil.example.com` (string)",
      );
      await expect(create({ cache, key: 'user' })).rejects.toThrow('Expected `key` to be a function of the request');
      await expect(create({ cache: {} as TokenCache, key: () => 'k' })).rejects.toThrow(
        'Expected `cache` to be a TokenCache',
      );
      expect((await create({ cache, key: () => 'k' })).name).toBe(adapter.middlewareName ?? 'freshTokensMiddleware');
    });
  });
}
