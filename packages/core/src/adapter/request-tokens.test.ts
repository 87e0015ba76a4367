import { describe, expect, it } from '@jest/globals';
import { ScriptedEndpoint } from '../../../../test/support/scripted-endpoint.js';
import { ReauthenticationRequiredError } from '../errors.js';
import { TokenCache } from '../token-cache.js';
import { RequestTokens, type KeyResolver } from './request-tokens.js';
import { TokensUnavailableError } from './tokens-unavailable.js';

const api = 'https://api.example.com';

/** A cache whose fetch answers 200 with the Authorization header it was given, and never touches the network. */
async function setup() {
  const sent: string[] = [];
  const fakeFetch = (async (_input: unknown, init?: RequestInit) => {
    const authorization = new Headers(init?.headers).get('authorization') ?? '';
    sent.push(authorization);
    return new Response(authorization);
  }) as typeof fetch;
  const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), allowedOrigins: [api], fetch: fakeFetch });
  await cache.set('alice', { accessToken: 'access-a', refreshToken: 'refresh-a', expiresAt: Date.now() + 3_600_000 });
  return { cache, sent };
}

function counting(resolve: KeyResolver): { resolver: KeyResolver; calls: () => number } {
  let calls = 0;
  return {
    resolver: () => {
      calls++;
      return resolve();
    },
    calls: () => calls,
  };
}

describe('RequestTokens', () => {
  it.each([
    ['returns the key at once', () => 'alice'],
    ['resolves the key later', () => Promise.resolve('alice')],
  ] satisfies [string, KeyResolver][])('works when the resolver %s, and asks it only once', async (_how, resolve) => {
    const { cache, sent } = await setup();
    const { resolver, calls } = counting(resolve);
    const tokens = new RequestTokens(cache, resolver);
    expect(await (await tokens.fetch(`${api}/me`)).text()).toBe('Bearer access-a');
    expect(await tokens.getAccessToken()).toBe('access-a');
    expect(await tokens.key()).toBe('alice');
    await tokens.fetch(`${api}/again`);
    expect(sent).toEqual(['Bearer access-a', 'Bearer access-a']);
    expect(calls()).toBe(1);
  });

  it.each([
    ['undefined', () => undefined],
    ['an empty string', () => ''],
    ['a promise of undefined', () => Promise.resolve(undefined)],
  ] satisfies [string, KeyResolver][])(
    'answers 401 without sending anything when the key is %s',
    async (_what, resolve) => {
      const { cache, sent } = await setup();
      const tokens = new RequestTokens(cache, resolve);
      for (const call of [() => tokens.fetch(`${api}/me`), () => tokens.getAccessToken(), () => tokens.key()]) {
        const error = await call().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TokensUnavailableError);
        expect(error).toMatchObject({ status: 401, message: 'Sign-in required: this request has no token key' });
      }
      expect(sent).toEqual([]);
    },
  );

  it('rejects, never throws, when the resolver throws', async () => {
    const { cache } = await setup();
    const failure = new Error('session store down');
    const tokens = new RequestTokens(cache, () => {
      throw failure;
    });
    const pending = tokens.fetch(`${api}/me`);
    await expect(pending).rejects.toBe(failure);
    await expect(tokens.getAccessToken()).rejects.toMatchObject({ status: 500, cause: failure });
  });

  it('turns a dead grant into a 401 on fetch, and lets other errors through as they are', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
    const cache = new TokenCache({ endpoint, allowedOrigins: [api] });
    await cache.set('bob', { accessToken: 'access-b', refreshToken: 'refresh-b', expiresAt: Date.now() - 1 });
    const tokens = new RequestTokens(cache, () => 'bob');
    const dead = await tokens.fetch(`${api}/me`).catch((caught: unknown) => caught);
    expect(dead).toMatchObject({ status: 401, cause: expect.any(ReauthenticationRequiredError) });
    await expect(tokens.fetch('https://elsewhere.example/me')).rejects.toMatchObject({ name: 'OriginNotAllowedError' });
  });
});
