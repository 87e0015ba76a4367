import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import {
  DpopKeyMismatchError,
  MemoryStore,
  OAuth2Endpoint,
  TokenCache,
  type DpopKey,
  type OAuth2EndpointOptions,
  type PrivateJwk,
} from '@refreshkit/core';
import { ApiServer } from './support/api-server.js';
import { generateClientKey } from './support/client-keys.js';
import { json, TokenServer } from './support/token-server.js';

const REFRESH = 'SENTINEL-DPOP-REFRESH-77c1';
const ACCESS = 'SENTINEL-DPOP-ACCESS-4e0b';

let server: TokenServer;
let api: ApiServer;
let ec: PrivateJwk;
let rsa: PrivateJwk;
/** A key pair whose private half was generated extractable, so its `d` can serve as a sentinel. */
let pair: CryptoKeyPair;
/** The private members of every DPoP key: none may ever surface, not even in a proof. */
let keySentinels: string[];
/** Every DPoP proof sent, header and payload decoded, scanned for key material too. */
const proofs: string[] = [];

beforeAll(async () => {
  [server, api] = await Promise.all([TokenServer.start(), ApiServer.start()]);
  [{ privateJwk: ec }, { privateJwk: rsa }] = await Promise.all([
    generateClientKey('ES256', 'ec'),
    generateClientKey('RS256', 'rsa'),
  ]);
  pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const pairD = (await crypto.subtle.exportKey('jwk', pair.privateKey)).d!;
  const r = rsa as PrivateJwk & Record<'p' | 'q' | 'dp' | 'dq' | 'qi', string>;
  keySentinels = [ec.d!, r.d!, r.p, r.q, r.dp, r.dq, r.qi, pairD];
});
afterAll(() => Promise.all([server.close(), api.close()]));

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

function expectNone(sentinels: readonly string[], values: unknown[]): void {
  expect(sentinels.every((sentinel) => sentinel.length >= 20)).toBe(true);
  for (const value of values) {
    for (const text of surfaces(value)) {
      for (const sentinel of sentinels) {
        if (text.includes(sentinel)) throw new Error(`Leaked a secret in: ${text.slice(0, 300)}`);
      }
    }
  }
}

/** Records every proof sent (token endpoint and API), then sends the request. */
const recording: typeof globalThis.fetch = (input, init) => {
  const proof = new Headers(init?.headers).get('dpop');
  if (proof !== null) {
    const [header, payload] = proof.split('.').map((part) => Buffer.from(part, 'base64url').toString());
    proofs.push(`${header} ${payload}`);
  }
  return globalThis.fetch(input, init);
};

const keys: [string, () => DpopKey][] = [
  ['an ES256 JWK', () => ec],
  ['an RS256 JWK', () => rsa],
  ['a CryptoKeyPair', () => pair],
];

/** Answers that echo the whole request, DPoP proof included, back, one per error path. */
const echoes: [string, number, (request: { body: string; proof: string }) => unknown][] = [
  ['invalid_client', 401, (r) => ({ error: 'invalid_client', error_description: `${r.proof} ${r.body}` })],
  ['invalid_dpop_proof', 400, (r) => ({ error: 'invalid_dpop_proof', error_description: r.proof })],
  ['use_dpop_nonce twice', 400, (r) => ({ error: 'use_dpop_nonce', error_description: r.proof })],
  ['invalid_grant', 400, (r) => ({ error: 'invalid_grant', error_description: r.body })],
  ['an unusable 2xx', 200, (r) => ({ access_token: `${ACCESS}\n`, token_type: 'DPoP', echo: r.proof })],
];

function endpointWith(key: DpopKey, options: Partial<OAuth2EndpointOptions> = {}): OAuth2Endpoint {
  return new OAuth2Endpoint({
    tokenUrl: server.tokenUrl,
    clientId: 'client',
    clientSecret: 'SENTINEL-DPOP-CLIENT-SECRET-1',
    dpop: { key },
    retry: { maxAttempts: 2, baseDelayMs: 1 },
    fetch: recording,
    ...options,
  });
}

describe('DPoP keeps the private key secret', () => {
  describe.each(keys)('with %s', (_name, key) => {
    it.each(echoes)(
      'through %s errors, events, and inspect of the cache and endpoint',
      async (_what, status, answer) => {
        server.handler = (request, res) =>
          json(res, status, answer({ body: request.body, proof: String(request.headers.dpop) }), {
            'dpop-nonce': 'nonce-1',
          });
        const endpoint = endpointWith(key());
        const cache = new TokenCache({ endpoint });
        const events: unknown[] = [];
        for (const name of ['refresh', 'refreshError', 'reauthenticationRequired'] as const) {
          cache.on(name, (payload) => events.push(payload));
        }
        await cache.set('user', { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() - 1 });
        const error = await cache.getAccessToken('user').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(events.length).toBeGreaterThan(0);
        expect(proofs.length).toBeGreaterThan(0);
        expectNone([...keySentinels, ACCESS, REFRESH], [error, ...events, cache, endpoint, cache.stats()]);
        expectNone(keySentinels, proofs);
      },
    );

    it('through a successful grant, outbound calls and a key mismatch', async () => {
      server.handler = (_request, res) =>
        json(res, 200, { access_token: ACCESS, token_type: 'DPoP', expires_in: 3600 });
      const store = new MemoryStore();
      const options = { grant: 'client_credentials', allowedOrigins: [api.origin], store, fetch: recording } as const;
      const cache = new TokenCache({ ...options, endpoint: endpointWith(key()) });
      const events: unknown[] = [];
      cache.on('refresh', (payload) => events.push(payload));
      expect((await cache.fetch('svc', `${api.origin}/redirect?to=/me`)).status).toBe(401);
      const tokens = await cache.getTokenSet('svc');
      const other = new TokenCache({ ...options, endpoint: endpointWith(key() === ec ? rsa : ec) });
      const mismatch = await other.fetch('svc', `${api.origin}/me`).catch((e: unknown) => e);
      expect(mismatch).toBeInstanceOf(DpopKeyMismatchError);
      expectNone([...keySentinels, ACCESS], [mismatch, ...events, cache, other, cache.stats()]);
      expectNone(keySentinels, [tokens, store, ...proofs, ...api.seen]);
      await Promise.all([cache.close(), other.close()]);
    });
  });

  it('through a key Web Crypto refuses', async () => {
    const broken = { ...ec, x: ec.y, y: ec.x } as PrivateJwk;
    const endpoint = endpointWith(broken);
    const error = await endpoint.clientCredentials().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expectNone(keySentinels, [error, endpoint]);
  });

  it.each<[string, () => unknown]>([
    ['a key passed as a JSON string', () => JSON.stringify(ec)],
    ['a key of a type that cannot sign', () => ({ ...ec, kty: 'oct' })],
    ['a key with an alg that does not fit', () => ({ ...rsa, alg: 'ES256' })],
    ['a key with a symmetric alg', () => ({ ...ec, alg: 'HS256' })],
    ['a key pair with a private public half', () => ({ privateKey: pair.privateKey, publicKey: pair.privateKey })],
  ])('through option errors: %s', (_what, key) => {
    let error: unknown;
    try {
      endpointWith(key() as DpopKey);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expectNone(keySentinels, [error]);
  });
});
