import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { ScriptedEndpoint } from '../../../../test/support/scripted-endpoint.js';
import { OriginNotAllowedError } from '../errors.js';
import { RetryBudget } from '../retry-budget.js';
import { TokenCache } from '../token-cache.js';
import { isReplayableBody, methodAfterRedirect, OutboundBearer } from './outbound-bearer.js';

const api = 'https://api.example.com';
const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), allowedOrigins: [api] });

describe('OutboundBearer', () => {
  it('takes the key the call names over the installed one, and the installed one otherwise', async () => {
    const fixed = new OutboundBearer<{ tenant: string }>({ cache, key: 'service' });
    const resolved = new OutboundBearer<{ tenant: string }>({ cache, key: (call) => call.tenant });
    const none = new OutboundBearer<{ tenant: string }>({ cache });
    expect([fixed.keyOf({ tenant: 't' }, 'named'), fixed.keyOf({ tenant: 't' }, undefined)]).toEqual([
      'named',
      'service',
    ]);
    expect(resolved.keyOf({ tenant: 't' }, '')).toBe('t');
    expect(none.keyOf({ tenant: 't' }, undefined)).toBeUndefined();
  });

  it('allows only the cache origins, however the URL is spelled, before and after it remembers the allowed one', () => {
    const bearer = new OutboundBearer({ cache });
    expect(bearer.allowedOriginOf(api)).toBe(api);
    expect(bearer.allowedOriginOf(`${api}/me?x=1`)).toBe(api);
    expect(bearer.allowedOriginOf('HTTPS://API.example.com:443/me')).toBe(api);
    for (const refused of [
      'https://api.example.com.evil.test',
      'https://api.example.com@evil.test/',
      'https://api.example.com%2F@evil.test/me',
      'https://api.example.com:8443/me',
      'http://api.example.com',
    ]) {
      expect(() => bearer.allowedOriginOf(refused)).toThrow(OriginNotAllowedError);
      expect(() => bearer.allowedOriginOf(refused)).toThrow(OriginNotAllowedError);
    }
    expect(() => bearer.allowedOriginOf('not a url')).toThrow('Invalid URL');
  });

  it('gives a bearer for a key without DPoP, the same headers on every hop', async () => {
    await cache.set('plain', { accessToken: 'plain-token', expiresAt: Date.now() + 60_000 });
    const credentials = await new OutboundBearer({ cache }).credentials('plain');
    expect(credentials).toMatchObject({ accessToken: 'plain-token', dpop: false });
    const first = credentials.headersFor(`${api}/a`, 'GET');
    expect(first).toEqual({ authorization: 'Bearer plain-token' });
    expect(credentials.headersFor(`${api}/b`, 'POST')).toBe(first);
  });

  it('gives the credentials of a token at hand without a promise, and of a token to wait for with one', async () => {
    let now = Date.parse('2026-12-07T12:00:00Z');
    const endpoint = new ScriptedEndpoint(() => now);
    const own = new TokenCache({ endpoint, allowedOrigins: [api], refreshWindowMs: 10_000, now: () => now });
    await own.set('user', { accessToken: 'at-hand', refreshToken: 'refresh', expiresAt: now + 60_000 });
    const bearer = new OutboundBearer({ cache: own });

    const atHand = bearer.credentialsNow('user');
    expect(atHand).not.toBeInstanceOf(Promise);
    expect(atHand).toMatchObject({ accessToken: 'at-hand' });
    // credentials() keeps its promise for every call.
    await expect(bearer.credentials('user')).resolves.toBe(atHand);
    // A caller's signal still takes the promise path, which watches it.
    expect(bearer.credentialsNow('user', new AbortController().signal)).toBeInstanceOf(Promise);

    // Inside the refresh window the token is still at hand, and one background refresh starts.
    now += 55_000;
    expect(bearer.credentialsNow('user')).toMatchObject({ accessToken: 'at-hand' });
    // The background refresh ends by storing its token set.
    for (let turn = 0; turn < 100 && (await own.getTokenSet('user')).accessToken === 'at-hand'; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(bearer.credentialsNow('user')).toMatchObject({ accessToken: 'access-1' });
    expect(endpoint.calls).toHaveLength(1);

    // An expired token must be waited for: a promise, resolved by the refresh.
    now += 2 * 3_600_000; // past the refreshed token's lifetime (ScriptedEndpoint's default, an hour)
    const waited = bearer.credentialsNow('user');
    expect(waited).toBeInstanceOf(Promise);
    await expect(waited).resolves.toMatchObject({ accessToken: 'access-2' });
    expect(own.stats()).toMatchObject({ refreshes: 2 });

    // A key the cache has never seen: a promise that rejects with the cache's error.
    await expect(bearer.credentialsNow('nobody')).rejects.toThrow(/nobody/);
  });
});

describe('RetryBudget', () => {
  it('earns a bearer call one refresh after a 401, and nothing for other statuses', () => {
    const budget = new RetryBudget();
    expect([403, 500, 200].map((status) => budget.take(status, null, false))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(budget.take(401, null, false)).toBe('refresh');
    expect(budget.take(401, null, false)).toBeUndefined();
  });

  it('earns a DPoP call one nonce retry and one refresh, in whichever order the server asks', () => {
    const challenge = 'DPoP error="use_dpop_nonce", error_description="nonce"';
    const nonceFirst = new RetryBudget();
    expect(
      [challenge, challenge, 'DPoP error="invalid_token"', challenge].map((c) => nonceFirst.take(401, c, true)),
    ).toEqual(['nonce', 'refresh', undefined, undefined]);
    const refreshFirst = new RetryBudget();
    expect(['DPoP error="invalid_token"', challenge, challenge].map((c) => refreshFirst.take(401, c, true))).toEqual([
      'refresh',
      'nonce',
      undefined,
    ]);
    // A bearer call has no nonce to learn: the challenge is any other 401.
    expect(new RetryBudget().take(401, challenge, false)).toBe('refresh');
  });
});

describe('isReplayableBody', () => {
  it('tells bodies that can be sent twice from those read once', () => {
    const replayable = [
      undefined,
      null,
      'text',
      new Uint8Array(2),
      new URLSearchParams('a=1'),
      new Blob(['x']),
      { a: 1 },
    ];
    const once = [Readable.from(['x']), new ReadableStream(), (async function* () {})(), [1].values()];
    expect(replayable.map(isReplayableBody)).toEqual(replayable.map(() => true));
    expect(once.map(isReplayableBody)).toEqual(once.map(() => false));
  });
});

describe('methodAfterRedirect', () => {
  it('turns a POST into a GET without body on 301, 302 and 303, and keeps it on 307 and 308', () => {
    expect([301, 302, 303].map((status) => methodAfterRedirect(status, 'POST'))).toEqual(
      Array(3).fill({ method: 'GET', dropsBody: true }),
    );
    expect([307, 308].map((status) => methodAfterRedirect(status, 'POST'))).toEqual(
      Array(2).fill({ method: 'POST', dropsBody: false }),
    );
    expect(methodAfterRedirect(303, 'HEAD')).toEqual({ method: 'HEAD', dropsBody: false });
  });
});
