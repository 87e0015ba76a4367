import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { freshTokens as expressTokens } from '@refreshkit/express';
import { freshTokens as koaTokens } from '@refreshkit/koa';
import {
  DiscoveryError,
  DpopKeyMismatchError,
  MemoryStore,
  OAuth2Endpoint,
  ReauthenticationRequiredError,
  TokenCache,
  type OAuth2EndpointOptions,
  type PrivateJwk,
} from '@refreshkit/core';
import { ClientAuthServer } from './support/client-auth-server.js';
import { generateClientKey } from './support/client-keys.js';
import { DpopResourceServer, thumbprintOf } from './support/dpop-resource-server.js';

const CLIENT_SECRET = 'dpop-confidential-secret-for-tests-only';

/** DPoP accepted, nonces issued but not demanded. */
let server: ClientAuthServer;
/** DPoP with a nonce demanded on every proof. */
let nonceServer: ClientAuthServer;
/** A protected API checking proofs, with nonces. */
let api: DpopResourceServer;
let key: PrivateJwk;
let otherKey: PrivateJwk;

const clients = [
  { clientId: 'service', method: 'client_secret_basic', clientSecret: CLIENT_SECRET },
  { clientId: 'public-app', method: 'none' },
] as const;

beforeAll(async () => {
  [{ privateJwk: key }, { privateJwk: otherKey }] = await Promise.all([
    generateClientKey('ES256', 'dpop-key'),
    generateClientKey('EdDSA', 'other-dpop-key'),
  ]);
  [server, nonceServer] = await Promise.all([
    ClientAuthServer.start({ clients, dPoP: { nonceSecret: randomBytes(32) } }),
    ClientAuthServer.start({ clients, dPoP: { nonceSecret: randomBytes(32), requireNonce: true } }),
  ]);
  api = await DpopResourceServer.start((token) => server.introspect(token), { nonces: true });
});
afterAll(async () => {
  await Promise.all([server?.close(), nonceServer?.close(), api?.close()]);
});

/** The thumbprint of a private JWK's public half, computed apart from refreshkit. */
function jktOf(jwk: PrivateJwk): string {
  return thumbprintOf(jwk as unknown as Record<string, string>);
}

/** A fetch that counts requests to each path and keeps the DPoP proofs sent. */
function recording(): { calls: Map<string, number>; proofs: string[]; fetch: typeof globalThis.fetch } {
  const calls = new Map<string, number>();
  const proofs: string[] = [];
  return {
    calls,
    proofs,
    fetch: (input, init) => {
      const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
      calls.set(path, (calls.get(path) ?? 0) + 1);
      const proof = new Headers(init?.headers).get('dpop');
      if (proof !== null) proofs.push(proof);
      return globalThis.fetch(input, init);
    },
  };
}

function payloadOf(proof: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

function serviceEndpoint(over: Partial<OAuth2EndpointOptions> = {}, on = server): OAuth2Endpoint {
  return new OAuth2Endpoint({
    tokenUrl: on.tokenUrl,
    clientId: 'service',
    clientSecret: CLIENT_SECRET,
    dpop: { key },
    ...over,
  });
}

describe('DPoP against oidc-provider', () => {
  it('binds client-credentials tokens to the configured key, and an API that checks proofs accepts them only with proofs', async () => {
    const cache = new TokenCache({
      endpoint: serviceEndpoint(),
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
    });
    const tokens = await cache.getTokenSet('worker');
    expect(tokens.tokenType).toBe('dpop');
    expect(tokens.dpopJkt).toBe(jktOf(key));
    expect(await server.introspect(tokens.accessToken)).toMatchObject({ active: true, cnf: { jkt: jktOf(key) } });

    const response = await cache.fetch('worker', `${api.origin}/orders?page=2#top`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    const accepted = api.verdicts.at(-1)!;
    expect(accepted).toMatchObject({ method: 'POST', path: '/orders', scheme: 'DPoP', reason: 'ok' });
    expect(payloadOf(accepted.proof!)).toMatchObject({ htm: 'POST', htu: `${api.origin}/orders` });

    const withoutProof = await fetch(`${api.origin}/orders`, {
      headers: { authorization: `DPoP ${tokens.accessToken}` },
    });
    expect(withoutProof.status).toBe(401);
    expect(api.verdicts.at(-1)!.reason).toBe('no proof');
    const asBearer = await fetch(`${api.origin}/orders`, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(asBearer.status).toBe(401);
    expect(api.verdicts.at(-1)!.reason).toBe('DPoP-bound token sent as bearer');
    await cache.close();
  });

  it('signs in a public client, refreshes with rotation, and calls userinfo with proofs; the bound refresh token is useless with another key', async () => {
    const endpoint = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'public-app',
      authMethod: 'none',
      dpop: { key },
    });
    const first = await server.signIn('alice', endpoint);
    expect(first).toMatchObject({ tokenType: 'dpop', dpopJkt: jktOf(key) });

    const stolen = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'public-app',
      authMethod: 'none',
      dpop: { key: otherKey },
    });
    await expect(stolen.refresh(first.refreshToken!)).rejects.toBeInstanceOf(ReauthenticationRequiredError);

    const cache = new TokenCache({ endpoint, allowedOrigins: [server.issuer] });
    await cache.set('alice', { ...first, expiresAt: Date.now() - 1_000 });
    const response = await cache.fetch('alice', `${server.issuer}/me`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: 'alice' });
    const refreshed = await cache.getTokenSet('alice');
    expect(refreshed.refreshToken).not.toBe(first.refreshToken);
    expect(refreshed).toMatchObject({ tokenType: 'dpop', dpopJkt: jktOf(key) });
    expect(await server.introspect(refreshed.accessToken)).toMatchObject({ active: true, cnf: { jkt: jktOf(key) } });

    // oidc-provider calls the DPoP scheme without a proof a malformed request (400), a bound token as bearer 401.
    const withoutProof = await fetch(`${server.issuer}/me`, {
      headers: { authorization: `DPoP ${refreshed.accessToken}` },
    });
    expect(withoutProof.status).toBe(400);
    const asBearer = await fetch(`${server.issuer}/me`, {
      headers: { authorization: `Bearer ${refreshed.accessToken}` },
    });
    expect(asBearer.status).toBe(401);
    await cache.close();
  });

  it('learns the token endpoint nonce from a use_dpop_nonce answer, retries once, and sends it from then on', async () => {
    const sent = recording();
    const endpoint = serviceEndpoint({ fetch: sent.fetch, retry: { maxAttempts: 1 } }, nonceServer);
    const first = await endpoint.clientCredentials();
    expect(first.tokenType).toBe('dpop');
    expect(sent.calls.get('/token')).toBe(2);
    expect(payloadOf(sent.proofs[0]!).nonce).toBeUndefined();
    expect(typeof payloadOf(sent.proofs[1]!).nonce).toBe('string');
    expect(payloadOf(sent.proofs[0]!).jti).not.toBe(payloadOf(sent.proofs[1]!).jti);

    await endpoint.clientCredentials();
    expect(sent.calls.get('/token')).toBe(3);
    expect(payloadOf(sent.proofs[2]!).nonce).toBe(payloadOf(sent.proofs[1]!).nonce);
  });

  it('retries an API call once with a rotated nonce, without invalidating the token', async () => {
    const sent = recording();
    const endpoint = serviceEndpoint({ fetch: sent.fetch });
    const cache = new TokenCache({
      endpoint,
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
      fetch: sent.fetch,
    });
    const before = api.verdicts.length;
    expect((await cache.fetch('worker', `${api.origin}/a`)).status).toBe(200);
    expect((await cache.fetch('worker', `${api.origin}/b`)).status).toBe(200);
    api.rotateNonce();
    expect((await cache.fetch('worker', `${api.origin}/c`)).status).toBe(200);
    expect(api.verdicts.slice(before).map(({ path, reason }) => `${path} ${reason}`)).toEqual([
      '/a use_dpop_nonce',
      '/a ok',
      '/b ok',
      '/c use_dpop_nonce',
      '/c ok',
    ]);
    expect(payloadOf(api.verdicts.at(-1)!.proof!).nonce).toBe(api.nonce);
    expect(sent.calls.get('/token')).toBe(1);
    await cache.close();
  });

  it('a replayed proof is rejected by the API and by oidc-provider', async () => {
    const sent = recording();
    const cache = new TokenCache({
      endpoint: serviceEndpoint(),
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
      fetch: sent.fetch,
    });
    expect((await cache.fetch('worker', `${api.origin}/once`)).status).toBe(200);
    const { accessToken } = await cache.getTokenSet('worker');
    const used = api.verdicts.at(-1)!.proof!;
    const replay = await fetch(`${api.origin}/once`, { headers: { authorization: `DPoP ${accessToken}`, dpop: used } });
    expect(replay.status).toBe(401);
    expect(api.verdicts.at(-1)!.reason).toBe('replayed proof');

    const endpoint = new OAuth2Endpoint({
      tokenUrl: server.tokenUrl,
      clientId: 'public-app',
      authMethod: 'none',
      dpop: { key },
    });
    const user = new TokenCache({ endpoint, allowedOrigins: [server.issuer], fetch: sent.fetch });
    await user.set('bob', await server.signIn('bob', endpoint));
    expect((await user.fetch('bob', `${server.issuer}/me`)).status).toBe(200);
    const userinfoProof = sent.proofs.at(-1)!;
    const { accessToken: bobToken } = await user.getTokenSet('bob');
    const replayed = await fetch(`${server.issuer}/me`, {
      headers: { authorization: `DPoP ${bobToken}`, dpop: userinfoProof },
    });
    expect(replayed.status).toBe(401);
    await Promise.all([cache.close(), user.close()]);
  });

  it('a cache without DPoP gets bearer tokens and is served as before', async () => {
    const sent = recording();
    const endpoint = serviceEndpoint({ dpop: undefined, fetch: sent.fetch });
    const cache = new TokenCache({
      endpoint,
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
      fetch: sent.fetch,
    });
    const tokens = await cache.getTokenSet('plain');
    expect(tokens.tokenType).toBe('bearer');
    expect(tokens.dpopJkt).toBeUndefined();
    expect((await server.introspect(tokens.accessToken)).cnf).toBeUndefined();
    expect((await cache.fetch('plain', `${api.origin}/plain`)).status).toBe(200);
    expect(api.verdicts.at(-1)).toMatchObject({ scheme: 'Bearer', proof: undefined, reason: 'ok' });
    expect(sent.proofs).toEqual([]);
    await cache.close();
  });

  it('two caches given the same key share bound tokens through one store; a cache with another key refuses them unsent', async () => {
    const store = new MemoryStore();
    const sent = recording();
    const options = { grant: 'client_credentials', allowedOrigins: [api.origin], store, fetch: sent.fetch } as const;
    const first = new TokenCache({ ...options, endpoint: serviceEndpoint({ fetch: sent.fetch }) });
    const second = new TokenCache({
      ...options,
      endpoint: serviceEndpoint({ fetch: sent.fetch, dpop: { key: { ...key } } }),
    });
    const stranger = new TokenCache({
      ...options,
      endpoint: serviceEndpoint({ fetch: sent.fetch, dpop: { key: otherKey } }),
    });

    expect((await first.fetch('shared', `${api.origin}/one`)).status).toBe(200);
    expect((await second.fetch('shared', `${api.origin}/two`)).status).toBe(200);
    expect(api.verdicts.at(-1)).toMatchObject({ path: '/two', reason: 'ok' });
    expect(sent.calls.get('/token')).toBe(1);

    const apiCalls = sent.calls.get('/three') ?? 0;
    const refused = await stranger.fetch('shared', `${api.origin}/three`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DpopKeyMismatchError);
    expect(refused).toMatchObject({ code: 'ERR_DPOP_KEY_MISMATCH', boundJkt: jktOf(key), ownJkt: jktOf(otherKey) });
    expect(sent.calls.get('/three') ?? 0).toBe(apiCalls);
    expect(sent.calls.get('/token')).toBe(1);

    // A cache without DPoP sends the bound token as a bearer (the API refuses it), then refuses to refresh it
    // without a proof, which would replace the bound tokens of every other process with bearer ones.
    const plain = new TokenCache({ ...options, endpoint: serviceEndpoint({ fetch: sent.fetch, dpop: undefined }) });
    const unbound = await plain.fetch('shared', `${api.origin}/four`).catch((error: unknown) => error);
    expect(unbound).toMatchObject({ name: 'DpopKeyMismatchError', boundJkt: jktOf(key), ownJkt: undefined });
    expect((unbound as Error).message).toMatch(/this cache has no DPoP key: configure `dpop` on its endpoint/);
    expect(api.verdicts.at(-1)).toMatchObject({ path: '/four', reason: 'DPoP-bound token sent as bearer' });
    expect(sent.calls.get('/token')).toBe(1);
    expect((await first.getTokenSet('shared')).tokenType).toBe('dpop');
    await Promise.all([first.close(), second.close(), stranger.close(), plain.close()]);
  });

  it('discovery checks the DPoP key against dpop_signing_alg_values_supported, and refuses a provider without DPoP', async () => {
    const endpoint = await OAuth2Endpoint.discover(server.issuer, {
      clientId: 'service',
      clientSecret: CLIENT_SECRET,
      dpop: { key },
    });
    expect(await endpoint.clientCredentials()).toMatchObject({ tokenType: 'dpop', dpopJkt: jktOf(key) });

    const { privateJwk: rsa } = await generateClientKey('RS256', 'rsa-dpop');
    const refused = await OAuth2Endpoint.discover(server.issuer, {
      clientId: 'service',
      clientSecret: CLIENT_SECRET,
      dpop: { key: rsa },
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DiscoveryError);
    expect(refused).toMatchObject({ reason: 'unsupported_dpop' });
    expect((refused as Error).message).toMatch(/not `RS256`: use a DPoP key of a supported algorithm/);

    const withoutDpop = await ClientAuthServer.start({ clients, dPoP: { enabled: false } });
    try {
      const error = await OAuth2Endpoint.discover(withoutDpop.issuer, {
        clientId: 'service',
        clientSecret: CLIENT_SECRET,
        dpop: {},
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'DiscoveryError', reason: 'unsupported_dpop' });
      expect((error as Error).message).toMatch(/does not advertise DPoP/);
    } finally {
      await withoutDpop.close();
    }
  });

  it('Express and Koa apps send proofs through their tokens.fetch', async () => {
    const cache = new TokenCache({
      endpoint: serviceEndpoint(),
      grant: 'client_credentials',
      allowedOrigins: [api.origin],
    });
    const expressApp = express();
    expressApp.use(expressTokens({ cache, key: () => 'worker' }));
    expressApp.get('/orders', async (req, res, next) => {
      try {
        res.sendStatus((await req.tokens.fetch(`${api.origin}/orders?from=express`)).status);
      } catch (error) {
        next(error);
      }
    });
    const koaApp = new Koa();
    koaApp.use(koaTokens({ cache, key: () => 'worker' }));
    koaApp.use(async (ctx) => {
      ctx.status = (await ctx.state.tokens.fetch(`${api.origin}/orders?from=koa`, { method: 'DELETE' })).status;
    });
    const before = api.verdicts.length;
    expect((await request(expressApp).get('/orders')).status).toBe(200);
    expect((await request(koaApp.callback()).get('/orders')).status).toBe(200);
    const accepted = api.verdicts.slice(before).filter((verdict) => verdict.reason === 'ok');
    expect(accepted.map(({ method, scheme }) => `${method} ${scheme}`)).toEqual(['GET DPoP', 'DELETE DPoP']);
    await cache.close();
  });
});
