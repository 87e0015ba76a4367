import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { ApiServer } from '../../../test/support/api-server.js';
import { json, TokenServer } from '../../../test/support/token-server.js';
import { jwkThumbprint } from './dpop-key.js';
import { DpopProver } from './dpop-prover.js';
import { RequestTokens } from './adapter/request-tokens.js';
import { DpopProofRequiredError, InvalidTokenResponseError, TokenEndpointConfigurationError } from './errors.js';
import { OAuth2Endpoint } from './oauth2-endpoint.js';
import type { OAuth2EndpointOptions } from './oauth2-endpoint-options.js';
import { TokenCache } from './token-cache.js';

const ACCESS = 'dpop-access-token-0001';

let server: TokenServer;
let api: ApiServer;
let privateJwk: JsonWebKey;
let publicJwk: JsonWebKey;

beforeAll(async () => {
  [server, api] = await Promise.all([TokenServer.start(), ApiServer.start()]);
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  publicJwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
});
afterAll(() => Promise.all([server.close(), api.close()]));
beforeEach(() => {
  server.requests.length = 0;
  api.seen.length = 0;
  server.handler = (_request, res) => json(res, 200, { access_token: ACCESS, token_type: 'DPoP', expires_in: 3600 });
});

interface DecodedProof {
  header: { typ: string; alg: string; jwk: Record<string, string> };
  payload: Record<string, unknown>;
}

/** Decodes a proof and checks its signature with the public key it carries. */
async function verified(proof: string): Promise<DecodedProof> {
  const [header, payload, signature] = proof.split('.') as [string, string, string];
  const decoded = {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as DecodedProof['header'],
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>,
  };
  const key = await crypto.subtle.importKey('jwk', decoded.header.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'verify',
  ]);
  const valid = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    Buffer.from(signature, 'base64url'),
    Buffer.from(`${header}.${payload}`),
  );
  expect(valid).toBe(true);
  return decoded;
}

function endpointWith(options: Partial<OAuth2EndpointOptions> = {}): OAuth2Endpoint {
  return new OAuth2Endpoint({
    tokenUrl: server.tokenUrl,
    clientId: 'dpop-client',
    clientSecret: 'dpop-client-secret',
    dpop: { key: privateJwk },
    sleep: async () => {},
    ...options,
  });
}

describe('DPoP proofs', () => {
  it('thumbprints keys as RFC 7638 does (its example RSA key)', async () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    expect(await jwkThumbprint({ e: 'AQAB', kty: 'RSA', n })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('are signed JWTs carrying the public key only, the method, the URL without query and fragment, iat, a new jti and ath', async () => {
    const prover = new DpopProver({ key: privateJwk }, () => 1_700_000_000_999);
    const url = new URL('https://API.example.com:443/v1/items?page=2#top');
    const first = await verified(await prover.proof({ method: 'GET', url, accessToken: ACCESS }));
    expect(first.header).toEqual({
      typ: 'dpop+jwt',
      alg: 'ES256',
      jwk: { crv: 'P-256', kty: 'EC', x: publicJwk.x, y: publicJwk.y },
    });
    expect(first.payload).toEqual({
      jti: expect.any(String),
      htm: 'GET',
      htu: 'https://api.example.com/v1/items',
      iat: 1_700_000_000,
      ath: createHash('sha256').update(ACCESS).digest('base64url'),
    });
    const second = await verified(await prover.proof({ method: 'POST', url }));
    expect(second.payload.jti).not.toBe(first.payload.jti);
    expect(second.payload.ath).toBeUndefined();
  });

  it('carry the nonce each origin gave last, and no other origin sees it', async () => {
    const prover = new DpopProver({ key: privateJwk }, Date.now);
    const a = new URL('https://a.example/x');
    expect(prover.learnNonce(a.origin, 'n-1')).toBe(true);
    expect(prover.learnNonce(a.origin, 'bad "quoted"')).toBe(false);
    expect((await verified(await prover.proof({ method: 'GET', url: a }))).payload.nonce).toBe('n-1');
    prover.learnNonce(a.origin, 'n-2');
    expect((await verified(await prover.proof({ method: 'GET', url: a }))).payload.nonce).toBe('n-2');
    const b = new URL('https://b.example/x');
    expect((await verified(await prover.proof({ method: 'GET', url: b }))).payload.nonce).toBeUndefined();
  });

  it('a generated key (no `key` given) signs ES256 proofs with one thumbprint for the life of the prover', async () => {
    const prover = new DpopProver({}, Date.now);
    const proof = await verified(await prover.proof({ method: 'GET', url: new URL('https://a.example/') }));
    expect(proof.header.alg).toBe('ES256');
    expect(await prover.thumbprint()).toBe(await prover.thumbprint());
    expect(await prover.thumbprint()).toMatch(/^[\w-]{43}$/);
    expect(inspect(prover)).toBe('DpopProver {}');
  });
});

describe('the `dpop` option', () => {
  it.each([
    ['a string', 'key', /Expected `dpop` to be an object/],
    ['a public JWK', { key: 'public' }, /Expected `dpop.key` to be a private JWK \(with `d`\)/],
    ['an alg that does not fit the key', { key: 'rs' }, /Expected `dpop.key.alg` to fit its key type/],
    ['an HMAC alg', { key: 'hs' }, /Expected `dpop.key.alg` to be one of/],
  ])('refuses %s at construction, without showing the key', (_name, dpop, message) => {
    const resolved =
      typeof dpop === 'string'
        ? dpop
        : {
            key: { public: publicJwk, rs: { ...privateJwk, alg: 'RS256' }, hs: { ...privateJwk, alg: 'HS256' } }[
              dpop.key
            ],
          };
    let thrown: unknown;
    try {
      endpointWith({ dpop: resolved as never });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain(privateJwk.d);
  });

  it('refuses a key pair whose halves are swapped', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    expect(() => endpointWith({ dpop: { key: { privateKey: pair.privateKey, publicKey: pair.privateKey } } })).toThrow(
      /`dpop.key.publicKey` to be an extractable public CryptoKey/,
    );
    expect(() => endpointWith({ dpop: { key: { privateKey: pair.publicKey, publicKey: pair.publicKey } } })).toThrow(
      /`dpop.key.privateKey` to be a private CryptoKey with the `sign` usage/,
    );
  });
});

describe('DPoP at the token endpoint', () => {
  it('sends a proof for POST to the token URL with every token request, a new one per retry', async () => {
    server.handler = (_request, res, index) =>
      index === 0
        ? json(res, 503, { error: 'temporarily_unavailable' })
        : json(res, 200, { access_token: ACCESS, token_type: 'DPoP' });
    const tokens = await endpointWith().clientCredentials();
    expect(tokens).toMatchObject({ tokenType: 'dpop', dpopJkt: expect.stringMatching(/^[\w-]{43}$/) });
    expect(inspect(endpointWith())).toMatch(/authMethod: 'client_secret_basic', dpop: true \}$/);
    expect(inspect(endpointWith({ dpop: undefined }))).not.toContain('dpop: true');
    const proofs = await Promise.all(server.requests.map((request) => verified(String(request.headers.dpop))));
    expect(proofs.map((proof) => proof.payload.htu)).toEqual([server.tokenUrl, server.tokenUrl]);
    expect(proofs.map((proof) => proof.payload.htm)).toEqual(['POST', 'POST']);
    expect(proofs[0]!.payload.jti).not.toBe(proofs[1]!.payload.jti);
  });

  it('retries use_dpop_nonce once with the nonce, outside the retry budget, and no more', async () => {
    server.handler = (request, res) => {
      const nonce = (
        JSON.parse(Buffer.from(String(request.headers.dpop).split('.')[1]!, 'base64url').toString()) as {
          nonce?: string;
        }
      ).nonce;
      if (nonce === 'server-nonce') return json(res, 200, { access_token: ACCESS, token_type: 'DPoP' });
      json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'server-nonce' });
    };
    await expect(endpointWith({ retry: { maxAttempts: 1 } }).clientCredentials()).resolves.toMatchObject({
      tokenType: 'dpop',
    });
    expect(server.requests).toHaveLength(2);

    server.requests.length = 0;
    server.handler = (_request, res) => json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'another' });
    await expect(endpointWith().clientCredentials()).rejects.toMatchObject({
      name: 'TokenEndpointConfigurationError',
      oauthError: 'use_dpop_nonce',
    });
    expect(server.requests).toHaveLength(2);
  });

  it('refuses a DPoP token when DPoP is not configured, with an error that says how to fix it', async () => {
    const error = await endpointWith({ dpop: undefined })
      .clientCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toMatch(
      /`token_type` is `DPoP`; a DPoP-bound token is accepted only when the endpoint has a `dpop` option/,
    );
    expect(server.requests[0]!.headers.dpop).toBeUndefined();
  });

  it('accepts a bearer token from a server that does not bind, and cache.fetch sends it as a bearer without a proof', async () => {
    server.handler = (_request, res) =>
      json(res, 200, { access_token: ACCESS, token_type: 'Bearer', expires_in: 3600 });
    const cache = new TokenCache({
      endpoint: endpointWith(),
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
    });
    expect(await cache.getTokenSet('svc')).toMatchObject({ tokenType: 'bearer' });
    expect((await cache.getTokenSet('svc')).dpopJkt).toBeUndefined();
    expect((await cache.fetch('svc', `${api.origin}/me`)).status).toBe(200);
    expect(api.seen[0]!.authorization).toBe(`Bearer ${ACCESS}`);
    expect(api.seen[0]!.headers.dpop).toBeUndefined();
    await cache.close();
  });

  it('refuses a DPoP-bound token as a header string (authorizationHeader, forward), and gives a bearer answer as before', async () => {
    const cache = new TokenCache({
      endpoint: endpointWith(),
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
    });
    const error = await cache.authorizationHeader('svc').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DpopProofRequiredError);
    expect(error).toMatchObject({ code: 'ERR_DPOP_PROOF_REQUIRED', key: 'svc' });
    expect((error as Error).message).not.toContain(ACCESS);
    const viaMiddleware = await new RequestTokens(cache, () => 'svc').authorizationHeader().catch((e: unknown) => e);
    expect(viaMiddleware).toMatchObject({ status: 500, cause: expect.any(DpopProofRequiredError) });
    server.handler = (_request, res) =>
      json(res, 200, { access_token: 'plain-bearer', token_type: 'Bearer', expires_in: 3600 });
    await cache.delete('svc');
    expect(await cache.authorizationHeader('svc')).toBe('Bearer plain-bearer');
    await cache.close();
  });

  it('a key Web Crypto refuses is a typed configuration error that does not show the key, and nothing is sent', async () => {
    // A point that is not on the curve passes the shape checks; only the import can tell.
    const broken = { ...privateJwk, x: publicJwk.y, y: publicJwk.x };
    const error = await endpointWith({ dpop: { key: broken } })
      .clientCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenEndpointConfigurationError);
    expect((error as Error).message).toMatch(
      /^No DPoP proof signed: the DPoP key cannot be imported \(Web Crypto: \w+\)$/,
    );
    expect(inspect(error, { showHidden: true })).not.toContain(privateJwk.d);
    expect(server.requests).toHaveLength(0);
  });
});

describe('DPoP through cache.fetch', () => {
  it('makes a new proof for each same-origin redirect hop and sends neither token nor proof to another origin', async () => {
    const other = await ApiServer.start();
    try {
      const cache = new TokenCache({
        endpoint: endpointWith(),
        grant: 'client_credentials',
        allowedOrigins: [api.origin],
      });
      const to = encodeURIComponent(`/redirect?status=307&to=${encodeURIComponent(`${other.origin}/me`)}`);
      const response = await cache.fetch('svc', `${api.origin}/redirect?status=308&to=${to}`, {
        method: 'PUT',
        body: 'b',
      });
      expect(response.status).toBe(401);
      const [first, second] = api.seen;
      expect(first!.authorization).toBe(`DPoP ${ACCESS}`);
      expect(second!.authorization).toBe(`DPoP ${ACCESS}`);
      const proofs = await Promise.all([verified(String(first!.headers.dpop)), verified(String(second!.headers.dpop))]);
      expect(proofs.map((proof) => [proof.payload.htm, proof.payload.htu])).toEqual([
        ['PUT', `${api.origin}/redirect`],
        ['PUT', `${api.origin}/redirect`],
      ]);
      expect(proofs[0]!.payload.jti).not.toBe(proofs[1]!.payload.jti);
      expect(other.seen.length).toBeGreaterThan(0);
      for (const seen of other.seen) {
        expect(seen.authorization).toBeUndefined();
        expect(seen.headers.dpop).toBeUndefined();
      }
      await cache.close();
    } finally {
      await other.close();
    }
  });
});
