import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DiscoveryError,
  OAuth2Endpoint,
  TokenCache,
  TokenEndpointConfigurationError,
  type ClientKey,
  type DiscoverOptions,
} from '@refreshkit/core';
import { ClientAuthServer } from './support/client-auth-server.js';
import { generateClientKey, type ClientKeyPair } from './support/client-keys.js';

const SECRET_JWT_SECRET = 'client-secret-jwt-secret-for-tests-only-0123456789abcdef';

let server: ClientAuthServer;
let rsa: ClientKeyPair;
let ec: ClientKeyPair;
let ed: ClientKeyPair;
/** A key nobody registered, with the kid of a registered one: the signature gives it away. */
let impostor: ClientKeyPair;

beforeAll(async () => {
  [rsa, ec, ed, impostor] = await Promise.all([
    generateClientKey('RS256', 'rsa-2026'),
    generateClientKey('ES256', 'ec-2027'),
    generateClientKey('EdDSA', 'ed-2028'),
    generateClientKey('RS256', 'rsa-2026'),
  ]);
  server = await ClientAuthServer.start({
    clients: [
      { clientId: 'key-client', method: 'private_key_jwt', publicKeys: [rsa.publicJwk, ec.publicJwk, ed.publicJwk] },
      { clientId: 'secret-jwt-client', method: 'client_secret_jwt', clientSecret: SECRET_JWT_SECRET },
    ],
  });
});
afterAll(() => server?.close());

/** The kids of the assertions an endpoint sent, read from the requests as they leave, and the requests counted. */
function recordingKids(): { kids: string[]; sent: { requests: number }; fetch: typeof globalThis.fetch } {
  const kids: string[] = [];
  const sent = { requests: 0 };
  return {
    kids,
    sent,
    fetch: async (input, init) => {
      sent.requests++;
      const assertion = new URLSearchParams(String(init?.body)).get('client_assertion');
      if (assertion !== null) {
        const header = JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString()) as { kid?: string };
        kids.push(header.kid ?? '(none)');
      }
      return globalThis.fetch(input, init);
    },
  };
}

const methods: [string, () => DiscoverOptions][] = [
  ['private_key_jwt (RS256 JWK)', () => ({ clientId: 'key-client', clientKey: rsa.privateJwk })],
  ['private_key_jwt (ES256 JWK)', () => ({ clientId: 'key-client', clientKey: ec.privateJwk })],
  ['private_key_jwt (EdDSA JWK)', () => ({ clientId: 'key-client', clientKey: ed.privateJwk })],
  [
    'client_secret_jwt',
    () => ({ clientId: 'secret-jwt-client', clientSecret: SECRET_JWT_SECRET, authMethod: 'client_secret_jwt' }),
  ],
];

describe('JWT client authentication against oidc-provider, endpoint from discovery', () => {
  it.each(methods)(
    '%s: signs in, refreshes with rotation and gets client-credentials tokens',
    async (_name, options) => {
      const endpoint = await OAuth2Endpoint.discover(server.issuer, options());
      expect(endpoint.tokenUrl).toBe(server.tokenUrl);
      expect(endpoint.toJSON().authMethod).toBe(options().authMethod ?? 'private_key_jwt');

      const first = await server.signIn('alice', endpoint);
      const refreshed = await endpoint.refresh(first.refreshToken!, { previous: first });
      expect(refreshed.refreshToken).toBeDefined();
      expect(refreshed.refreshToken).not.toBe(first.refreshToken);
      expect(await server.introspect(refreshed.accessToken)).toMatchObject({ active: true, sub: 'alice' });

      const service = await endpoint.clientCredentials();
      expect(await server.introspect(service.accessToken)).toMatchObject({
        active: true,
        client_id: options().clientId,
      });
    },
  );

  it('keeps a TokenCache fresh with private_key_jwt: one refresh for 20 concurrent callers, and a service identity by client credentials', async () => {
    const endpoint = await OAuth2Endpoint.discover(server.issuer, { clientId: 'key-client', clientKey: ec.privateJwk });
    const users = new TokenCache({ endpoint });
    const first = await server.signIn('bob', endpoint);
    await users.set('bob', { ...first, expiresAt: Date.now() - 1 });
    let refreshes = 0;
    users.on('refresh', () => refreshes++);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => users.getAccessToken('bob')));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(first.accessToken);
    expect(refreshes).toBe(1);
    expect(await server.introspect(tokens[0]!)).toMatchObject({ active: true, sub: 'bob' });

    const services = new TokenCache({ endpoint, grant: 'client_credentials' });
    const serviceToken = await services.getAccessToken('reports-worker');
    expect(await server.introspect(serviceToken)).toMatchObject({ active: true, client_id: 'key-client' });
  });

  it('rotates the key without a restart: the provider function is asked at every request, and the server accepts the new key', async () => {
    const { kids, fetch } = recordingKids();
    let current: ClientKey = rsa.privateJwk;
    const endpoint = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'key-client',
      clientKey: () => current,
      fetch,
    });
    const cache = new TokenCache({ endpoint, grant: 'client_credentials' });
    const before = await cache.getAccessToken('svc');
    current = ec.privateJwk;
    // The token is dropped (as after a 401), so the cache needs a new one: signed with the new key.
    await cache.invalidate('svc', before);
    const after = await cache.getAccessToken('svc');
    expect(after).not.toBe(before);
    expect(kids).toEqual(['rsa-2026', 'ec-2027']);
    expect(await server.introspect(before)).toMatchObject({ active: true });
    expect(await server.introspect(after)).toMatchObject({ active: true });

    current = impostor.privateJwk;
    await expect(endpoint.clientCredentials()).rejects.toBeInstanceOf(TokenEndpointConfigurationError);
  });

  it.each<[string, (fetch: typeof globalThis.fetch) => OAuth2Endpoint]>([
    [
      'an unregistered key under a registered kid',
      (fetch) =>
        new OAuth2Endpoint({
          tokenUrl: server.tokenUrl,
          clientId: 'key-client',
          clientKey: impostor.privateJwk,
          fetch,
        }),
    ],
    [
      'a key with an unknown kid',
      (fetch) =>
        new OAuth2Endpoint({
          tokenUrl: server.tokenUrl,
          clientId: 'key-client',
          clientKey: { ...rsa.privateJwk, kid: 'retired-2019' },
          fetch,
        }),
    ],
    [
      'client_secret_jwt with the wrong secret',
      (fetch) =>
        new OAuth2Endpoint({
          tokenUrl: server.tokenUrl,
          clientId: 'secret-jwt-client',
          clientSecret: `${SECRET_JWT_SECRET}-old`,
          authMethod: 'client_secret_jwt',
          fetch,
        }),
    ],
    [
      'a secret sent in Basic to a client registered for client_secret_jwt',
      (fetch) =>
        new OAuth2Endpoint({
          tokenUrl: server.tokenUrl,
          clientId: 'secret-jwt-client',
          clientSecret: SECRET_JWT_SECRET,
          fetch,
        }),
    ],
  ])('rejects %s as TokenEndpointConfigurationError (invalid_client), not retried', async (_what, endpointOf) => {
    const { sent, fetch } = recordingKids();
    const error = await endpointOf(fetch)
      .clientCredentials()
      .catch((e: unknown) => e);
    expect(sent.requests).toBe(1);
    expect(error).toBeInstanceOf(TokenEndpointConfigurationError);
    expect((error as TokenEndpointConfigurationError).oauthError).toBe('invalid_client');
    expect((error as Error).message).not.toContain(SECRET_JWT_SECRET);
    expect((error as Error).message).not.toContain(rsa.privateJwk.d!);
  });

  it('refuses metadata for another issuer: the provider says 127.0.0.1, the caller asked for localhost', async () => {
    const asked = server.issuer.replace('127.0.0.1', 'localhost');
    const error = await OAuth2Endpoint.discover(asked, { clientId: 'key-client', clientKey: rsa.privateJwk }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error).toMatchObject({ reason: 'issuer_mismatch', issuer: asked });
    expect((error as Error).message).toContain(server.issuer);
  });
});

describe('a provider that does not support what was configured', () => {
  let strict: ClientAuthServer;
  beforeAll(async () => {
    strict = await ClientAuthServer.start({
      clients: [{ clientId: 'key-client', method: 'private_key_jwt', publicKeys: [rsa.publicJwk, ec.publicJwk] }],
      authMethods: ['client_secret_basic', 'private_key_jwt'],
      signingAlgorithms: ['RS256', 'PS256'],
    });
  });
  afterAll(() => strict?.close());

  it('refuses client_secret_jwt at discovery, listing the methods the provider supports', async () => {
    const error = await OAuth2Endpoint.discover(strict.issuer, {
      clientId: 'key-client',
      clientSecret: SECRET_JWT_SECRET,
      authMethod: 'client_secret_jwt',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect((error as DiscoveryError).reason).toBe('unsupported_auth_method');
    expect((error as Error).message).toContain('supports `client_secret_basic`, `private_key_jwt`');
    expect((error as Error).message).not.toContain(SECRET_JWT_SECRET);
  });

  it('refuses an ES256 key at discovery when the provider accepts only RS256 and PS256; an RSA key works', async () => {
    const error = await OAuth2Endpoint.discover(strict.issuer, {
      clientId: 'key-client',
      clientKey: ec.privateJwk,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'unsupported_auth_method' });
    expect((error as Error).message).toContain('signed with `RS256`, `PS256`');
    const endpoint = await OAuth2Endpoint.discover(strict.issuer, {
      clientId: 'key-client',
      clientKey: rsa.privateJwk,
    });
    const tokens = await endpoint.clientCredentials();
    expect(await strict.introspect(tokens.accessToken)).toMatchObject({ active: true });
  });
});
