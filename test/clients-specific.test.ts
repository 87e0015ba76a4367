// What one client adapter does beyond the shared conformance suite: the
// ways each client builds URLs, passes keys and is installed.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import axios from 'axios';
import got from 'got';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { OAuth2Endpoint, OriginNotAllowedError, TokenCache } from '@refreshkit/core';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerHooks } from '@refreshkit/got';
import { bearerInterceptor } from '@refreshkit/undici';
import { controllerApiOnly } from './clients/undici.js';
import { ApiServer } from './support/api-server.js';
import { ScriptedEndpoint } from './support/scripted-endpoint.js';
import { json, TokenServer } from './support/token-server.js';
import { waitFor } from './support/wait-for.js';

let api: ApiServer;
let foreign: ApiServer;
beforeAll(async () => {
  [api, foreign] = await Promise.all([ApiServer.start(), ApiServer.start()]);
});
afterAll(() => Promise.all([api.close(), foreign.close()]));
beforeEach(() => {
  api.seen.length = 0;
  foreign.seen.length = 0;
});

async function cacheFor(...keys: string[]): Promise<TokenCache> {
  const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), allowedOrigins: [api.origin] });
  for (const key of keys) {
    await cache.set(key, { accessToken: `access-${key}`, refreshToken: 'refresh', expiresAt: Date.now() + 3_600_000 });
  }
  return cache;
}

describe('@refreshkit/axios', () => {
  it('checks the URL axios builds: an absolute url over an allowed baseURL is refused', async () => {
    const instance = axios.create({ baseURL: api.origin });
    bearerInterceptors(instance, { cache: await cacheFor('user'), key: 'user' });
    await expect(instance.get(`${foreign.origin}/me`)).rejects.toBeInstanceOf(OriginNotAllowedError);
    expect(foreign.seen).toHaveLength(0);
    await instance.get('/me', { params: { q: 'x' } });
    expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-user']);
  });

  it('retries a 401 that an instance accepting every status resolves with, once', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin] });
    await cache.set('user', { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() + 3_600_000 });
    const instance = axios.create({ baseURL: api.origin, validateStatus: () => true });
    bearerInterceptors(instance, { cache, key: 'user' });
    api.isValid = (token) => token !== 'access-0';
    try {
      expect((await instance.get('/me')).status).toBe(200);
      api.isValid = () => false;
      expect((await instance.get('/me')).status).toBe(401);
    } finally {
      api.isValid = () => true;
    }
    expect(api.seen.map((r) => r.authorization)).toEqual([
      'Bearer access-0',
      'Bearer access-1',
      'Bearer access-1',
      'Bearer access-2',
    ]);
    expect(endpoint.calls).toHaveLength(2);
  });

  it('removes its interceptors with the function it returns', async () => {
    const instance = axios.create({ baseURL: api.origin, validateStatus: () => true });
    const eject = bearerInterceptors(instance, { cache: await cacheFor('user'), key: 'user' });
    eject();
    await instance.get('/me');
    expect(api.seen.map((r) => r.authorization)).toEqual([undefined]);
  });
});

describe('@refreshkit/got', () => {
  it("resolves the key from the call's context", async () => {
    const hooks = bearerHooks({
      cache: await cacheFor('alice', 'bob'),
      key: (options) => (options.context as { user?: string }).user,
    });
    const client = got.extend({ prefixUrl: api.origin, retry: { limit: 0 } }, hooks);
    await client.get('me', { context: { user: 'alice' } });
    await client.get('me', { context: { user: 'bob' } });
    expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-alice', 'Bearer access-bob']);
  });
});

describe('@refreshkit/undici', () => {
  it.each(['outside', 'inside'] as const)(
    "refreshes once after a 401 with undici's retry interceptor composed %s it",
    async (placement) => {
      const endpoint = new ScriptedEndpoint(Date.now);
      const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin] });
      await cache.set('user', {
        accessToken: 'access-0',
        refreshToken: 'refresh-0',
        expiresAt: Date.now() + 3_600_000,
      });
      const bearer = bearerInterceptor({ cache, key: 'user' });
      const retry = interceptors.retry({ maxRetries: 1 });
      const agent = new Agent();
      // compose applies its interceptors inside out: the last one sees the call first.
      const dispatcher = placement === 'outside' ? agent.compose(bearer, retry) : agent.compose(retry, bearer);
      api.isValid = (token) => token !== 'access-0';
      try {
        const { statusCode, body } = await request(`${api.origin}/me`, { dispatcher });
        expect([statusCode, await body.json()]).toEqual([200, { token: 'access-1' }]);
      } finally {
        api.isValid = () => true;
        await agent.close();
      }
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0', 'Bearer access-1']);
      expect(endpoint.calls).toHaveLength(1);
    },
  );

  it.each([
    ['directly', []],
    ['under a controller-API interceptor', [controllerApiOnly]],
  ] as const)('holds the server back while `request` (%s) leaves the body unread, and resumes', async (_how, outer) => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const big = createServer((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const write = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(big.address() as AddressInfo).port}`;
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), allowedOrigins: [origin] });
    await cache.set('user', { accessToken: 'access-user', expiresAt: Date.now() + 3_600_000 });
    const agent = new Agent();
    const dispatcher = agent.compose(bearerInterceptor({ cache, key: 'user' }), ...outer);
    try {
      const { body } = await request(`${origin}/big`, { dispatcher });
      // Unread, the body fills the socket's buffers and the server's writes stop well short of the whole.
      let seen = -1;
      await waitFor(async () => seen === (seen = written), 'the server to stall', { intervalMs: 300 });
      expect(written).toBeLessThan(total / 2);
      expect((await body.arrayBuffer()).byteLength).toBe(total);
    } finally {
      await agent.close();
      big.closeAllConnections();
      await new Promise((resolve) => big.close(resolve));
    }
  });

  it("hands `request` the response's raw headers as the server wrote them, as without the interceptor", async () => {
    const agent = new Agent();
    const dispatcher = agent.compose(bearerInterceptor({ cache: await cacheFor('user'), key: 'user' }));
    const rawNames = async (via: Dispatcher, headers?: Record<string, string>) => {
      const response = await request(`${api.origin}/me`, { dispatcher: via, headers, responseHeaders: 'raw' });
      const { body } = response;
      await body.dump();
      return (response.headers as unknown as string[]).filter((_, index) => index % 2 === 0);
    };
    try {
      const names = await rawNames(dispatcher);
      expect(names).toContain('Content-Type');
      expect(names).toEqual(await rawNames(agent, { authorization: 'Bearer access-user' }));
    } finally {
      await agent.close();
    }
  });

  it("keeps the caller's own Authorization on a call whose asynchronous resolver names no key", async () => {
    const agent = new Agent();
    const dispatcher = agent.compose(
      bearerInterceptor({ cache: await cacheFor('user'), key: () => Promise.resolve(undefined) }),
    );
    try {
      const { body } = await request(`${foreign.origin}/me`, { dispatcher, headers: { authorization: 'Bearer own' } });
      await body.dump();
      expect(foreign.seen.map((r) => r.authorization)).toEqual(['Bearer own']);
    } finally {
      await agent.close();
    }
  });
});

/**
 * The error a caller gets from a call to the API's `/me` that fails, through
 * each client that keeps the request it sent on its errors.
 */
const failedCallThrough = {
  axios: async (cache: TokenCache, key: string) => {
    const instance = axios.create({ baseURL: api.origin });
    bearerInterceptors(instance, { cache, key });
    return instance.get('/me').catch((error: unknown) => error);
  },
  got: async (cache: TokenCache, key: string) =>
    got
      .extend({ prefixUrl: api.origin, retry: { limit: 0 } }, bearerHooks({ cache, key }))
      .get('me')
      .catch((error: unknown) => error),
};
const clientsKeepingRequests = Object.keys(failedCallThrough) as (keyof typeof failedCallThrough)[];

describe('client errors', () => {
  // Callers log the errors their client throws; a bearer sent by refreshkit
  // must not be readable there (the clients keep the headers they sent).
  it.each(clientsKeepingRequests)(
    '%s: the error of a call refused after its retry shows no bearer in inspect or JSON',
    async (name) => {
      const cache = await cacheFor('user');
      api.isValid = () => false;
      let error: unknown;
      try {
        error = await failedCallThrough[name](cache, 'user');
      } finally {
        api.isValid = () => true;
      }
      expect(error).toBeInstanceOf(Error);
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-user', 'Bearer access-1']);
      for (const shown of [inspect(error), inspect(error, { depth: 4 }), JSON.stringify(error) ?? '']) {
        expect(shown).not.toMatch(/access-(user|1)/);
      }
    },
  );
});

describe('client errors of DPoP calls', () => {
  let tokens: TokenServer;
  beforeAll(async () => {
    tokens = await TokenServer.start();
    let issued = 0;
    tokens.handler = (_request, res) =>
      json(res, 200, { access_token: `dpop-access-${++issued}`, token_type: 'DPoP', expires_in: 3600 });
  });
  afterAll(() => tokens.close());

  it.each(clientsKeepingRequests)(
    '%s: the error of a call refused after its retry shows neither token nor proof',
    async (name) => {
      // The API takes bearers only: both DPoP attempts are refused.
      const endpoint = new OAuth2Endpoint({ tokenUrl: tokens.tokenUrl, clientId: 'c', clientSecret: 's', dpop: {} });
      const cache = new TokenCache({ endpoint, grant: 'client_credentials', allowedOrigins: [api.origin] });
      const error = await failedCallThrough[name](cache, 'svc');
      expect(error).toBeInstanceOf(Error);
      const dpopToken = expect.stringMatching(/^DPoP dpop-access-\d+$/);
      expect(api.seen.map((r) => r.authorization)).toEqual([dpopToken, dpopToken]);
      const proofs = api.seen.map((r) => String(r.headers.dpop));
      for (const shown of [inspect(error), inspect(error, { depth: 6 }), JSON.stringify(error) ?? '']) {
        expect(shown).not.toMatch(/dpop-access-\d/);
        for (const proof of proofs) expect(shown).not.toContain(proof.split('.')[2]);
      }
    },
  );
});
