import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import {
  OAuth2Endpoint,
  TokenCache,
  type ClientKey,
  type OAuth2EndpointOptions,
  type PrivateJwk,
} from '@refreshkit/core';
import { generateClientKey } from './support/client-keys.js';
import { json, TokenServer } from './support/token-server.js';

const SECRET = 'SENTINEL-JWT-CLIENT-SECRET-6b1f';
const REFRESH = 'SENTINEL-REFRESH-e02c';
const ACCESS = 'SENTINEL-ACCESS-91aa';

let server: TokenServer;
let key: PrivateJwk;
/** The private members of the RSA key (`d` and the CRT values): none may ever surface. */
let sentinels: string[];
/** Every client assertion sent: a credential for its minute of life, so it must not surface either. */
const assertions: string[] = [];

beforeAll(async () => {
  server = await TokenServer.start();
  ({ privateJwk: key } = await generateClientKey('RS256', 'scan-key'));
  const rsa = key as PrivateJwk & Record<'p' | 'q' | 'dp' | 'dq' | 'qi', string>;
  sentinels = [key.d!, rsa.p, rsa.q, rsa.dp, rsa.dq, rsa.qi, SECRET, REFRESH, ACCESS];
});
afterAll(() => server.close());

/** Everything a secret could leak through, for one value. */
function surfaces(value: unknown): string[] {
  const texts = [inspect(value, { depth: 10 }), inspect(value, { depth: 10, showHidden: true, getters: true })];
  try {
    texts.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular values cannot leak through JSON.
  }
  if (value instanceof Error) texts.push(value.message, value.stack ?? '', String(inspect(value.cause)));
  const response = (value as { response?: unknown } | undefined)?.response;
  if (response !== undefined) texts.push(JSON.stringify(response));
  return texts;
}

function expectNoSentinel(values: unknown[]): void {
  expect(sentinels.every((sentinel) => sentinel.length >= 20 || sentinel.startsWith('SENTINEL'))).toBe(true);
  for (const value of values) {
    for (const text of surfaces(value)) {
      for (const sentinel of [...sentinels, ...assertions]) {
        if (text.includes(sentinel)) throw new Error(`Leaked a secret in: ${text.slice(0, 300)}`);
      }
    }
  }
}

/** Records every assertion sent, then lets the server answer. */
const recording: typeof globalThis.fetch = async (input, init) => {
  const assertion = new URLSearchParams(String(init?.body)).get('client_assertion');
  if (assertion !== null) assertions.push(assertion);
  return globalThis.fetch(input, init);
};

/** Answers that echo the whole request (assertion, refresh token) back, one per error path. */
const echoes: [string, number, (body: string) => unknown][] = [
  ['invalid_client', 401, (body) => ({ error: 'invalid_client', error_description: `rejected ${body}` })],
  ['invalid_grant', 400, (body) => ({ error: 'invalid_grant', error_description: body })],
  ['server error', 500, (body) => ({ error: 'server_error', error_description: decodeURIComponent(body) })],
  ['an unusable 2xx', 200, (body) => ({ access_token: `${ACCESS}\n`, token_type: 'Bearer', echo: body })],
];

const credentials: [string, () => Partial<OAuth2EndpointOptions>][] = [
  ['private_key_jwt', () => ({ clientKey: key })],
  ['private_key_jwt with a key provider', () => ({ clientKey: () => key })],
  ['client_secret_jwt', () => ({ clientSecret: SECRET, authMethod: 'client_secret_jwt' })],
];

describe('JWT client authentication keeps its secrets', () => {
  describe.each(credentials)('%s', (_method, credential) => {
    it.each(echoes)(
      'through %s errors, events, and inspect of the cache and endpoint',
      async (_what, status, answer) => {
        server.handler = (request, res) => json(res, status, answer(request.body));
        const endpoint = new OAuth2Endpoint({
          tokenUrl: server.tokenUrl,
          clientId: 'client',
          retry: { maxAttempts: 2, baseDelayMs: 1 },
          fetch: recording,
          ...credential(),
        });
        const cache = new TokenCache({ endpoint });
        const events: unknown[] = [];
        for (const name of ['refresh', 'refreshError', 'reauthenticationRequired'] as const) {
          cache.on(name, (payload) => events.push(payload));
        }
        await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
        const error = await cache.getAccessToken('user').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(assertions.length).toBeGreaterThan(0);
        expectNoSentinel([error, ...events, cache, endpoint, cache.stats()]);
        expect(events.length).toBeGreaterThan(0);
      },
    );
  });

  it('through failures before anything is sent: a key provider that throws, a key Web Crypto refuses', async () => {
    const broken = { ...key, n: 'AQAB' } as PrivateJwk;
    const endpoints = [
      () => {
        throw new Error('vault unavailable');
      },
      () => broken,
      broken,
    ].map((clientKey) => new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', clientKey }));
    const errors = await Promise.all(
      endpoints.map((endpoint) => endpoint.clientCredentials().catch((e: unknown) => e)),
    );
    for (const error of errors) expect(error).toBeInstanceOf(Error);
    expectNoSentinel([...errors, ...endpoints]);
  });

  it.each<[string, () => Partial<OAuth2EndpointOptions>]>([
    ['a key with a secret method', () => ({ clientKey: key, clientSecret: SECRET, authMethod: 'client_secret_basic' })],
    ['a key passed as a JSON string', () => ({ clientKey: JSON.stringify(key) as unknown as ClientKey })],
    ['a key without kid', () => ({ clientKey: { ...key, kid: '' } })],
    ['a key of the wrong type', () => ({ clientKey: { ...key, kty: 'oct' } })],
    ['a key and a secret', () => ({ clientKey: key, clientSecret: SECRET })],
  ])('through option errors: %s', (_what, options) => {
    let error: unknown;
    try {
      new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'client', ...options() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expectNoSentinel([error]);
  });

  it('through discovery errors and the discovered endpoint', async () => {
    const issuer = new URL(server.tokenUrl).origin;
    server.handler = (request, res) =>
      request.url === '/.well-known/openid-configuration'
        ? json(res, 200, {
            issuer,
            token_endpoint: server.tokenUrl,
            token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
          })
        : json(res, 401, { error: 'invalid_client', error_description: request.body });
    const refused = await OAuth2Endpoint.discover(issuer, {
      clientId: 'client',
      clientSecret: SECRET,
      authMethod: 'client_secret_jwt',
    }).catch((e: unknown) => e);
    const mismatch = await OAuth2Endpoint.discover(`${issuer}/`, { clientId: 'client', clientKey: key }).catch(
      (e: unknown) => e,
    );
    const endpoint = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientKey: key, fetch: recording });
    const grantError = await endpoint.clientCredentials().catch((e: unknown) => e);
    expect([refused, mismatch, grantError].every((e) => e instanceof Error)).toBe(true);
    expectNoSentinel([refused, mismatch, endpoint, grantError]);
  });
});
