import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { json, TokenServer, type RecordedRequest } from '../../../test/support/token-server.js';
import { TokenEndpointConfigurationError } from './errors.js';
import type { ClientKey, PrivateJwk } from './client-assertion.js';
import { OAuth2Endpoint } from './oauth2-endpoint.js';
import type { OAuth2EndpointOptions } from './oauth2-endpoint-options.js';

const SECRET = 'client-secret-SENTINEL-4c1d';
const REFRESH = 'refresh-token-SENTINEL-2b7e';
const ACCESS = 'access-token-SENTINEL-8a0f';

let server: TokenServer;
beforeAll(async () => {
  server = await TokenServer.start();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.handler = (_request, res) => json(res, 200, { access_token: ACCESS, token_type: 'Bearer', expires_in: 3600 });
});

interface KeyPair {
  readonly privateJwk: PrivateJwk;
  readonly publicKey: CryptoKey;
}

async function keyPair(
  algorithm: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm,
  kid: string,
  verifyParams: RsaHashedImportParams | EcKeyImportParams | Algorithm = algorithm,
): Promise<KeyPair> {
  const pair = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = { ...(await crypto.subtle.exportKey('jwk', pair.privateKey)), kid } as PrivateJwk;
  delete (privateJwk as { alg?: string }).alg;
  const publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  delete publicJwk.alg;
  const publicKey = await crypto.subtle.importKey('jwk', publicJwk, verifyParams, true, ['verify']);
  return { privateJwk, publicKey };
}

const RSA: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

function endpointWith(options: Partial<OAuth2EndpointOptions>): OAuth2Endpoint {
  return new OAuth2Endpoint({
    tokenUrl: server.tokenUrl,
    clientId: 'jwt-client',
    sleep: async () => {},
    ...options,
  });
}

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function assertionOf(request: RecordedRequest): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
} {
  expect(request.params.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  const [header, claims, signature] = String(request.params.client_assertion).split('.');
  return {
    header: decodePart(header!),
    claims: decodePart(claims!),
    signingInput: new TextEncoder().encode(`${header}.${claims}`),
    signature: new Uint8Array(Buffer.from(signature!, 'base64url')),
  };
}

describe('private_key_jwt (RFC 7523)', () => {
  it('sends a signed assertion with iss = sub = client id, aud = token endpoint, a minute of life and a unique jti', async () => {
    const { privateJwk, publicKey } = await keyPair(RSA, 'rsa-1');
    const endpoint = endpointWith({ authMethod: 'private_key_jwt', clientKey: privateJwk });
    await endpoint.refresh(REFRESH);
    await endpoint.clientCredentials();
    const [first, second] = server.requests.map(assertionOf);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(server.requests[0]!.params).toMatchObject({ client_id: 'jwt-client', grant_type: 'refresh_token' });
    expect(first!.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1' });
    expect(first!.claims).toMatchObject({ iss: 'jwt-client', sub: 'jwt-client', aud: server.tokenUrl });
    expect(Number(first!.claims.exp) - Number(first!.claims.iat)).toBe(60);
    expect(Math.abs(Number(first!.claims.iat) - Date.now() / 1000)).toBeLessThan(5);
    expect(first!.claims.jti).not.toBe(second!.claims.jti);
    expect(await crypto.subtle.verify('RSASSA-PKCS1-v1_5', publicKey, first!.signature, first!.signingInput)).toBe(
      true,
    );
  });

  it.each([
    ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }],
    ['ES384', { name: 'ECDSA', namedCurve: 'P-384' }, { name: 'ECDSA', hash: 'SHA-384' }],
    ['EdDSA', { name: 'Ed25519' }, { name: 'Ed25519' }],
  ])('signs %s with a key of that type, the algorithm inferred from the JWK', async (alg, generate, verify) => {
    const { privateJwk, publicKey } = await keyPair(generate, `${alg}-key`);
    await endpointWith({ clientKey: privateJwk }).refresh(REFRESH);
    const assertion = assertionOf(server.requests[0]!);
    expect(assertion.header).toMatchObject({ alg, kid: `${alg}-key` });
    expect(await crypto.subtle.verify(verify, publicKey, assertion.signature, assertion.signingInput)).toBe(true);
  });

  it('signs PS256 when the JWK says so', async () => {
    const generate: RsaHashedKeyGenParams = { ...RSA, name: 'RSA-PSS' };
    const { privateJwk, publicKey } = await keyPair(generate, 'pss');
    await endpointWith({ clientKey: { ...privateJwk, alg: 'PS256' } }).refresh(REFRESH);
    const assertion = assertionOf(server.requests[0]!);
    expect(assertion.header.alg).toBe('PS256');
    const verified = await crypto.subtle.verify(
      { name: 'RSA-PSS', saltLength: 32 },
      publicKey,
      assertion.signature,
      assertion.signingInput,
    );
    expect(verified).toBe(true);
  });

  it('signs with a non-extractable CryptoKey given with its kid', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    await endpointWith({ clientKey: { key: pair.privateKey, kid: 'hsm-key' } }).refresh(REFRESH);
    const assertion = assertionOf(server.requests[0]!);
    expect(assertion.header).toMatchObject({ alg: 'ES256', kid: 'hsm-key' });
    const ok = await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      pair.publicKey,
      assertion.signature,
      assertion.signingInput,
    );
    expect(ok).toBe(true);
  });

  it('addresses the assertion to `assertionAudience` when set (the issuer, for RFC 7523bis servers)', async () => {
    const { privateJwk } = await keyPair(RSA, 'rsa-aud');
    await endpointWith({ clientKey: privateJwk, assertionAudience: 'https://issuer.example.com' }).refresh(REFRESH);
    expect(assertionOf(server.requests[0]!).claims.aud).toBe('https://issuer.example.com');
  });

  it('signs a new assertion for every retry, since a jti is single-use', async () => {
    const { privateJwk } = await keyPair(RSA, 'rsa-retry');
    server.handler = (_request, res, index) =>
      index === 0
        ? json(res, 503, { error: 'temporarily_unavailable' })
        : json(res, 200, { access_token: ACCESS, token_type: 'Bearer' });
    await endpointWith({ clientKey: privateJwk }).refresh(REFRESH);
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests.map(assertionOf);
    expect(first!.claims.jti).not.toBe(second!.claims.jti);
  });

  it('rotates keys without a restart: a provider is asked for the key at every request', async () => {
    const keys = [await keyPair(RSA, 'old-key'), await keyPair(RSA, 'new-key')];
    let current: ClientKey = keys[0]!.privateJwk;
    let calls = 0;
    const endpoint = endpointWith({
      clientKey: () => {
        calls++;
        return current;
      },
    });
    await endpoint.refresh(REFRESH);
    await endpoint.refresh(REFRESH);
    current = keys[1]!.privateJwk;
    await endpoint.refresh(REFRESH);
    expect(calls).toBe(3);
    const assertions = server.requests.map(assertionOf);
    expect(assertions.map((assertion) => assertion.header.kid)).toEqual(['old-key', 'old-key', 'new-key']);
    const last = assertions[2]!;
    expect(await crypto.subtle.verify('RSASSA-PKCS1-v1_5', keys[1]!.publicKey, last.signature, last.signingInput)).toBe(
      true,
    );
  });

  it('fails with TokenEndpointConfigurationError, sending nothing, when the key provider throws or returns a public key', async () => {
    const { privateJwk } = await keyPair(RSA, 'rsa-public');
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicOnly } = privateJwk;
    const failing = endpointWith({
      clientKey: () => {
        throw new Error('vault sealed');
      },
    });
    const failure = await failing.refresh(REFRESH).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TokenEndpointConfigurationError);
    expect((failure as Error).message).toContain('`clientKey` provider failed');
    expect(((failure as Error).cause as Error).message).toBe('vault sealed');

    const publicKey = endpointWith({ clientKey: () => publicOnly as PrivateJwk });
    await expect(publicKey.refresh(REFRESH)).rejects.toThrow(/JWK without `d`/);
    expect(server.requests).toHaveLength(0);
  });

  it('fails with TokenEndpointConfigurationError naming the kid, not the key, when Web Crypto refuses the JWK', async () => {
    const { privateJwk } = await keyPair(RSA, 'broken-key');
    const broken = { ...privateJwk, n: 'AQAB' } as PrivateJwk;
    const error = await endpointWith({ clientKey: broken })
      .refresh(REFRESH)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenEndpointConfigurationError);
    expect((error as Error).message).toContain('`broken-key` cannot sign RS256');
    expect((error as Error).message).not.toContain(privateJwk.d!);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(privateJwk.d!);
    expect(server.requests).toHaveLength(0);
  });

  it('keeps the private key out of inspect, JSON and error messages echoing the request', async () => {
    const { privateJwk } = await keyPair(RSA, 'rsa-secret');
    server.handler = (request, res) =>
      json(res, 401, { error: 'invalid_client', error_description: `bad assertion ${request.body}` });
    const endpoint = endpointWith({ clientKey: privateJwk });
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenEndpointConfigurationError);
    const assertion = String(server.requests[0]!.params.client_assertion);
    const surfaces = [
      (error as Error).message,
      inspect(error, { depth: 10, showHidden: true }),
      JSON.stringify((error as TokenEndpointConfigurationError).response),
      inspect(endpoint, { depth: 10, showHidden: true }),
      JSON.stringify(endpoint),
    ];
    for (const surface of surfaces) {
      expect(surface).not.toContain(privateJwk.d!);
      expect(surface).not.toContain(assertion);
      expect(surface).not.toContain(REFRESH);
    }
    expect(inspect(endpoint)).toContain("authMethod: 'private_key_jwt'");
  });
});

describe('client_secret_jwt (RFC 7523, HS256)', () => {
  it('signs the assertion with the secret, which never travels', async () => {
    await endpointWith({ clientSecret: SECRET, authMethod: 'client_secret_jwt' }).clientCredentials();
    const [request] = server.requests;
    expect(request!.body).not.toContain(SECRET);
    expect(request!.headers.authorization).toBeUndefined();
    const assertion = assertionOf(request!);
    expect(assertion.header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(assertion.claims).toMatchObject({ iss: 'jwt-client', sub: 'jwt-client', aud: server.tokenUrl });
    const hmac = await crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(SECRET),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    expect(await crypto.subtle.verify('HMAC', hmac, assertion.signature, assertion.signingInput)).toBe(true);
  });
});

describe('JWT client authentication options', () => {
  const jwk = { kty: 'RSA', kid: 'k', n: 'AQAB', e: 'AQAB', d: 'PRIVATE-D-SENTINEL' } as PrivateJwk;

  it.each<[string, Partial<OAuth2EndpointOptions>, string]>([
    [
      'private_key_jwt without a key',
      { authMethod: 'private_key_jwt' },
      'Expected `clientKey` to be a private JWK, `{ key: CryptoKey, kid }` or a function',
    ],
    [
      'a key with client_secret_basic',
      { clientKey: jwk, clientSecret: SECRET, authMethod: 'client_secret_basic' },
      "Expected `clientKey` only with `authMethod: 'private_key_jwt'`",
    ],
    ['a key and a secret', { clientKey: jwk, clientSecret: SECRET }, 'Expected `clientSecret` to be absent'],
    ['a key without kid', { clientKey: { ...jwk, kid: '' } }, 'Expected `clientKey.kid` to be a non-empty string'],
    [
      'a public JWK',
      { clientKey: { ...jwk, d: undefined } as PrivateJwk },
      'got a JWK without `d`: pass the private key',
    ],
    [
      'a JWK of a symmetric type',
      { clientKey: { kty: 'oct', k: 'PRIVATE-D-SENTINEL', kid: 'k', d: 'x' } as PrivateJwk },
      'Expected `clientKey.kty` to be `RSA`',
    ],
    ['an unknown alg', { clientKey: { ...jwk, alg: 'none' } }, 'Expected `clientKey.alg` to be one of'],
    [
      'an alg that does not fit the key type',
      { clientKey: { ...jwk, alg: 'ES256' } },
      'Expected `clientKey.alg` to fit its key type, got `ES256` for kty `RSA`',
    ],
    ['client_secret_jwt without a secret', { authMethod: 'client_secret_jwt' }, 'Expected `clientSecret`'],
    ['a string as key', { clientKey: 'PRIVATE-D-SENTINEL' as unknown as PrivateJwk }, 'got a value of type string'],
  ])('refuses %s with a message that shows no key material', (_what, options, message) => {
    let error: unknown;
    try {
      endpointWith(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('PRIVATE-D-SENTINEL');
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('defaults to private_key_jwt when a key is given', () => {
    expect(endpointWith({ clientKey: jwk }).toJSON().authMethod).toBe('private_key_jwt');
  });
});
