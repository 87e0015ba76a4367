import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DpopKeyMismatchError, OAuth2Endpoint, TokenCache, type PrivateJwk } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';
import { ClientAuthServer } from './support/client-auth-server.js';
import { generateClientKey } from './support/client-keys.js';
import { DpopResourceServer, thumbprintOf } from './support/dpop-resource-server.js';
import { TestRedis } from './support/redis-server.js';

const CLIENT_SECRET = 'dpop-redis-secret-for-tests-only';

let server: ClientAuthServer;
let api: DpopResourceServer;
let redis: TestRedis;
let key: PrivateJwk;
let otherKey: PrivateJwk;

beforeAll(async () => {
  [{ privateJwk: key }, { privateJwk: otherKey }] = await Promise.all([
    generateClientKey('ES256', 'shared'),
    generateClientKey('ES256', 'other'),
  ]);
  [server, redis] = await Promise.all([
    ClientAuthServer.start({
      clients: [{ clientId: 'service', method: 'client_secret_basic', clientSecret: CLIENT_SECRET }],
      dPoP: {},
    }),
    TestRedis.start(),
  ]);
  api = await DpopResourceServer.start((token) => server.introspect(token));
});
afterAll(async () => {
  await Promise.all([server?.close(), api?.close()]);
  await redis?.stop();
});

it('processes given the same DPoP key share bound tokens through an encrypted Redis store; one with another key refuses them', async () => {
  const encryptionKey = { id: 'k1', key: randomBytes(32) };
  const stores: RedisTokenStore[] = [];
  let tokenRequests = 0;
  const cacheWith = (dpopKey: PrivateJwk): TokenCache => {
    const store = new RedisTokenStore({ redis: redis.url, encryptionKey });
    stores.push(store);
    const endpoint = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'service',
      clientSecret: CLIENT_SECRET,
      dpop: { key: dpopKey },
      fetch: (input, init) => {
        tokenRequests++;
        return globalThis.fetch(input, init);
      },
    });
    return new TokenCache({ endpoint, store, grant: 'client_credentials', allowedOrigins: [api.origin] });
  };
  // A copy of the key, as another process would read it from its configuration.
  const [first, second, stranger] = [cacheWith(key), cacheWith({ ...key }), cacheWith(otherKey)];
  try {
    expect((await first.fetch('svc', `${api.origin}/one`)).status).toBe(200);
    expect((await second.fetch('svc', `${api.origin}/two`)).status).toBe(200);
    expect(api.verdicts.map(({ path, reason }) => `${path} ${reason}`)).toEqual(['/one ok', '/two ok']);
    expect(tokenRequests).toBe(1);
    expect(await second.getTokenSet('svc')).toMatchObject({
      tokenType: 'dpop',
      dpopJkt: thumbprintOf(key as unknown as Record<string, string>),
    });

    await expect(stranger.fetch('svc', `${api.origin}/three`)).rejects.toBeInstanceOf(DpopKeyMismatchError);
    expect(api.verdicts).toHaveLength(2);
    expect(tokenRequests).toBe(1);
  } finally {
    await Promise.all([first.close(), second.close(), stranger.close()]);
    await Promise.all(stores.map((store) => store.close()));
  }
});
