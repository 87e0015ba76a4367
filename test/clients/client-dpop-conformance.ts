// The DPoP scenarios every outbound HTTP client adapter must pass, written
// once: a key whose endpoint has a DPoP key gets DPoP-bound tokens, and each
// request a client sends for it carries a proof that a resource server
// checking proofs independently (node:crypto) accepts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { DpopKeyMismatchError, OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { ApiServer } from '../support/api-server.js';
import { DpopResourceServer, thumbprintOf } from '../support/dpop-resource-server.js';
import { json, TokenServer } from '../support/token-server.js';
import type { ClientUnderTest, OutboundClient } from './client-conformance.js';

/** The public JWK a DPoP proof carries in its header. */
function proofKeyOf(proof: string): Record<string, string> {
  const header = JSON.parse(Buffer.from(proof.split('.')[0]!, 'base64url').toString()) as {
    jwk: Record<string, string>;
  };
  return header.jwk;
}

/**
 * A token endpoint that binds each token to the key of the proof on the
 * request (as RFC 9449 §5 servers do), or issues plain bearer tokens when
 * `binds` is off; `introspect` tells the resource server what it issued.
 */
class BindingTokenServer {
  binds = true;
  readonly revoked = new Set<string>();
  readonly #issued = new Map<string, string | undefined>();

  private constructor(readonly server: TokenServer) {
    server.handler = (request, res) => {
      const proof = request.headers.dpop;
      if (typeof proof !== 'string') return json(res, 400, { error: 'invalid_dpop_proof' });
      const token = `dpop-access-${this.#issued.size + 1}`;
      this.#issued.set(token, this.binds ? thumbprintOf(proofKeyOf(proof)) : undefined);
      json(res, 200, { access_token: token, token_type: this.binds ? 'DPoP' : 'Bearer', expires_in: 3600 });
    };
  }

  static async start(): Promise<BindingTokenServer> {
    return new BindingTokenServer(await TokenServer.start());
  }

  /** Token requests received. */
  get calls(): number {
    return this.server.requests.length;
  }

  introspect(token: string) {
    if (!this.#issued.has(token) || this.revoked.has(token)) return Promise.resolve({ active: false });
    const jkt = this.#issued.get(token);
    return Promise.resolve({ active: true, ...(jkt !== undefined && { cnf: { jkt } }) });
  }
}

/** Registers the DPoP scenarios for `client`. */
export function describeClientDpopConformance(client: ClientUnderTest): void {
  describe(`outbound client DPoP conformance: ${client.name}`, () => {
    let tokens: BindingTokenServer;
    let api: DpopResourceServer;
    let nonceApi: DpopResourceServer;
    let foreign: ApiServer;
    let dpopKey: JsonWebKey;
    const open: OutboundClient[] = [];
    beforeAll(async () => {
      tokens = await BindingTokenServer.start();
      const introspect = (token: string) => tokens.introspect(token);
      [api, nonceApi, foreign] = await Promise.all([
        DpopResourceServer.start(introspect),
        DpopResourceServer.start(introspect, { nonces: true }),
        ApiServer.start(),
      ]);
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair;
      dpopKey = await crypto.subtle.exportKey('jwk', pair.privateKey);
    });
    afterAll(async () => {
      await Promise.all(open.map((c) => c.close()));
      await Promise.all([tokens.server.close(), api.close(), nonceApi.close(), foreign.close()]);
    });
    beforeEach(() => {
      tokens.binds = true;
      tokens.server.requests.length = 0;
      api.verdicts.length = 0;
      nonceApi.verdicts.length = 0;
      foreign.seen.length = 0;
    });

    function setup() {
      const endpoint = new OAuth2Endpoint({
        tokenUrl: tokens.server.tokenUrl,
        clientId: 'dpop-client',
        clientSecret: 'dpop-client-secret',
        dpop: { key: dpopKey },
      });
      const cache = new TokenCache({
        endpoint,
        grant: 'client_credentials',
        allowedOrigins: [api.origin, nonceApi.origin],
      });
      const made = client.create({ cache, key: 'service' });
      open.push(made);
      return { cache, client: made };
    }

    it('sends the DPoP-bound token with a new proof for each call, which the API verifies', async () => {
      const { client: http } = setup();
      expect((await http.send({ url: `${api.origin}/me?page=2` })).status).toBe(200);
      expect((await http.send({ url: `${api.origin}/items`, method: 'POST', body: { text: 'x' } })).status).toBe(200);
      expect(api.verdicts.map((v) => [v.method, v.path, v.scheme, v.reason])).toEqual([
        ['GET', '/me', 'DPoP', 'ok'],
        ['POST', '/items', 'DPoP', 'ok'],
      ]);
      expect(api.verdicts[0]!.proof).not.toBe(api.verdicts[1]!.proof);
      expect(tokens.calls).toBe(1);
    });

    it('proves each redirect hop on the checked origin anew, and sends neither token nor proof to another origin', async () => {
      const { client: http } = setup();
      const away = encodeURIComponent(`${foreign.origin}/me`);
      const within = encodeURIComponent(`${api.origin}/redirect?to=${away}`);
      const reply = await http.send({ url: `${api.origin}/redirect?to=${within}` });
      expect(reply.status).toBe(401); // the foreign API takes only its own bearers
      expect(api.verdicts.map((v) => [v.path, v.reason])).toEqual([
        ['/redirect', 'ok'],
        ['/redirect', 'ok'],
      ]);
      expect(api.verdicts[0]!.proof).not.toBe(api.verdicts[1]!.proof);
      expect(foreign.seen).toHaveLength(1);
      expect(foreign.seen[0]!.authorization).toBeUndefined();
      expect(foreign.seen[0]!.headers.dpop).toBeUndefined();
    });

    it('answers a nonce challenge with one more try carrying the nonce, and refreshes nothing', async () => {
      const { client: http } = setup();
      expect((await http.send({ url: `${nonceApi.origin}/me` })).status).toBe(200);
      expect((await http.send({ url: `${nonceApi.origin}/me` })).status).toBe(200);
      nonceApi.rotateNonce();
      expect((await http.send({ url: `${nonceApi.origin}/me` })).status).toBe(200);
      expect(nonceApi.verdicts.map((v) => v.reason)).toEqual(['use_dpop_nonce', 'ok', 'ok', 'use_dpop_nonce', 'ok']);
      expect(tokens.calls).toBe(1);
    });

    it('answers a nonce challenge and then a 401 to a token the server stopped accepting: one retry each', async () => {
      const { cache, client: http } = setup();
      const first = (await cache.getTokenSet('service')).accessToken;
      const introspect = tokens.introspect.bind(tokens);
      let looks = 0;
      // Accepted when first shown (the proof then lacks the nonce), refused from then on.
      tokens.introspect = (token) =>
        token === first && ++looks > 1 ? Promise.resolve({ active: false }) : introspect(token);
      try {
        expect((await http.send({ url: `${nonceApi.origin}/me` })).status).toBe(200);
      } finally {
        tokens.introspect = introspect;
      }
      expect(nonceApi.verdicts.map((v) => v.reason)).toEqual(['use_dpop_nonce', 'inactive token', 'ok']);
      expect(tokens.calls).toBe(2);
    });

    it('gives the caller the second 401 when a refreshed token is refused too', async () => {
      const { client: http } = setup();
      const introspect = tokens.introspect.bind(tokens);
      tokens.introspect = () => Promise.resolve({ active: false });
      try {
        expect((await http.send({ url: `${api.origin}/me` })).status).toBe(401);
      } finally {
        tokens.introspect = introspect;
      }
      expect(api.verdicts.map((v) => v.reason)).toEqual(['inactive token', 'inactive token']);
      expect(tokens.calls).toBe(2);
    });

    it('refuses, before sending, a token the store holds bound to another DPoP key', async () => {
      const { cache, client: http } = setup();
      await cache.set('service', {
        accessToken: 'bound-elsewhere',
        tokenType: 'dpop',
        dpopJkt: 'A'.repeat(43), // the shape of a thumbprint, of no key here
        expiresAt: Date.now() + 3_600_000,
      });
      const error = client.unwrap(await http.send({ url: `${api.origin}/me` }).catch((caught: unknown) => caught));
      expect(error).toBeInstanceOf(DpopKeyMismatchError);
      expect(api.verdicts).toHaveLength(0);
    });

    it('sends a bearer token from a server that does not bind as a bearer, without a proof', async () => {
      tokens.binds = false;
      const { client: http } = setup();
      expect((await http.send({ url: `${api.origin}/me` })).status).toBe(200);
      expect(api.verdicts.map((v) => [v.scheme, v.proof, v.reason])).toEqual([['Bearer', undefined, 'ok']]);
    });
  });
}
