import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ApiServer } from '../../../test/support/api-server.js';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { OriginNotAllowedError } from './errors.js';
import { TokenCache } from './token-cache.js';

let api: ApiServer;
let foreign: ApiServer;
beforeAll(async () => {
  [api, foreign] = await Promise.all([ApiServer.start(), ApiServer.start()]);
});
afterAll(() => Promise.all([api.close(), foreign.close()]));
beforeEach(() => {
  api.seen.length = 0;
  foreign.seen.length = 0;
  api.isValid = () => true;
});

async function setup() {
  const clock = new ManualClock(Date.now());
  const endpoint = new ScriptedEndpoint(clock.now);
  const cache = new TokenCache({ endpoint, now: clock.now, allowedOrigins: [api.origin] });
  await cache.set('user', { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: clock.time + 3_600_000 });
  return { endpoint, cache };
}

describe('cache.fetch', () => {
  it('sends the bearer to an allowed origin', async () => {
    const { cache } = await setup();
    const response = await cache.fetch('user', `${api.origin}/me`);
    expect(await response.json()).toEqual({ token: 'access-0' });
    expect(api.seen[0]!.authorization).toBe('Bearer access-0');
  });

  it('refuses an origin outside allowedOrigins without sending anything', async () => {
    const { cache } = await setup();
    const error = await cache.fetch('user', `${foreign.origin}/me`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OriginNotAllowedError);
    expect((error as Error).message).toBe(
      `Refusing to send a bearer token to \`${foreign.origin}\`: it is not in \`allowedOrigins\``,
    );
    expect(foreign.seen).toHaveLength(0);
  });

  it('drops the bearer on a redirect to another origin, keeps it on the same origin', async () => {
    const { cache } = await setup();
    const toForeign = encodeURIComponent(`${foreign.origin}/me`);
    const crossed = await cache.fetch('user', `${api.origin}/redirect?to=${toForeign}`);
    expect(crossed.status).toBe(401);
    expect(foreign.seen).toHaveLength(1);
    expect(foreign.seen[0]!.authorization).toBeUndefined();

    const same = await cache.fetch('user', `${api.origin}/redirect?to=%2Fme`);
    expect(same.status).toBe(200);
    expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([
      ['/redirect', 'Bearer access-0'],
      ['/redirect', 'Bearer access-0'],
      ['/me', 'Bearer access-0'],
    ]);
  });

  it('does not retry a 401 that came from another origin after a redirect', async () => {
    const { cache, endpoint } = await setup();
    await cache.fetch('user', `${api.origin}/redirect?to=${encodeURIComponent(`${foreign.origin}/me`)}`);
    expect(endpoint.calls).toHaveLength(0);
  });

  it('recovers from a revoked token with one refresh and one retry', async () => {
    const { cache, endpoint } = await setup();
    api.isValid = (token) => token !== 'access-0';
    const response = await cache.fetch('user', `${api.origin}/me`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ token: 'access-1' });
    expect(endpoint.calls).toHaveLength(1);
    expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0', 'Bearer access-1']);
  });

  it('turns concurrent 401s for the same token into one refresh', async () => {
    const { cache, endpoint } = await setup();
    api.isValid = (token) => token !== 'access-0';
    const responses = await Promise.all(Array.from({ length: 20 }, () => cache.fetch('user', `${api.origin}/me`)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(endpoint.calls).toHaveLength(1);
  });

  it('replays a string body on the retry, but returns the 401 as is for a stream body', async () => {
    const { cache, endpoint } = await setup();
    api.isValid = (token) => token !== 'access-0';
    const replayed = await cache.fetch('user', `${api.origin}/echo`, { method: 'POST', body: 'hello' });
    expect(await replayed.json()).toEqual({ body: 'hello' });

    api.isValid = (token) => token !== 'access-1';
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const notReplayed = await cache.fetch('user', `${api.origin}/echo`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(notReplayed.status).toBe(401);
    expect(endpoint.calls).toHaveLength(1);
  });

  it('sends to the origin it checked when the caller mutates its URL object after the call started', async () => {
    const { cache } = await setup();
    const url = new URL(`${api.origin}/me`);
    const pending = cache.fetch('user', url);
    url.href = `${foreign.origin}/me`; // while the bearer is being fetched
    expect((await pending).status).toBe(200);
    expect(foreign.seen).toHaveLength(0);
    expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([['/me', 'Bearer access-0']]);

    // And the same once the token must be refreshed first (a longer await before sending).
    api.seen.length = 0;
    api.isValid = (token) => token !== 'access-0';
    const later = new URL(`${api.origin}/me`);
    const refreshing = cache.fetch('user', later);
    await Promise.resolve();
    later.host = new URL(foreign.origin).host;
    expect((await refreshing).status).toBe(200);
    expect(foreign.seen).toHaveLength(0);
    expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0', 'Bearer access-1']);
  });

  it('reads a URL-like input once: an object whose string changes on each read gets no bearer elsewhere', async () => {
    const { cache } = await setup();
    let reads = 0;
    const shifty = { toString: () => (reads++ === 0 ? `${api.origin}/me` : `${foreign.origin}/me`) };
    const response = await cache.fetch('user', shifty as unknown as string);
    expect(response.status).toBe(200);
    expect(foreign.seen).toHaveLength(0);
    expect(reads).toBe(1);
  });

  it('accepts a Request object and keeps its method and body', async () => {
    const { cache } = await setup();
    const response = await cache.fetch('user', new Request(`${api.origin}/echo`, { method: 'PUT', body: 'req-body' }));
    expect(await response.json()).toEqual({ body: 'req-body' });
    expect(api.seen[0]!.method).toBe('PUT');
  });

  it('follows a 303 from a POST as a GET without body or content-type, and a 307 with both', async () => {
    const { cache } = await setup();
    const post = { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain', 'x-trace': 't1' } };
    const seeOther = await cache.fetch('user', `${api.origin}/redirect?status=303&to=%2Fecho`, post);
    expect(await seeOther.json()).toEqual({ body: '' });
    const afterSeeOther = api.seen[1]!;
    expect([afterSeeOther.method, afterSeeOther.headers['content-type'], afterSeeOther.headers['x-trace']]).toEqual([
      'GET',
      undefined,
      't1',
    ]);

    const temporary = await cache.fetch('user', `${api.origin}/redirect?status=307&to=%2Fecho`, post);
    expect(await temporary.json()).toEqual({ body: 'payload' });
    const afterTemporary = api.seen[3]!;
    expect([afterTemporary.method, afterTemporary.headers['content-type'], afterTemporary.authorization]).toEqual([
      'POST',
      'text/plain',
      'Bearer access-0',
    ]);
  });

  it("returns the redirect itself with `redirect: 'manual'` and rejects it with `redirect: 'error'`", async () => {
    const { cache } = await setup();
    const manual = await cache.fetch('user', `${api.origin}/redirect?to=%2Fme`, { redirect: 'manual' });
    expect([manual.status, manual.headers.get('location')]).toEqual([302, '/me']);

    const refused = await cache.fetch('user', `${api.origin}/redirect?to=%2Fme`, { redirect: 'error' }).catch((e) => e);
    expect(refused).toBeInstanceOf(TypeError);
    expect(api.seen.map((r) => r.path)).toEqual(['/redirect', '/redirect']);
  });

  it("replaces a caller's own Authorization header with the bearer, and removes it across origins", async () => {
    const { cache } = await setup();
    const headers = new Headers({ Authorization: 'Basic c3RhbGU=', accept: 'application/json' });
    await cache.fetch('user', `${api.origin}/me`, { headers });
    expect([api.seen[0]!.authorization, api.seen[0]!.headers.accept]).toEqual(['Bearer access-0', 'application/json']);

    const toForeign = encodeURIComponent(`${foreign.origin}/me`);
    await cache.fetch('user', `${api.origin}/redirect?to=${toForeign}`, {
      headers: { Authorization: 'Basic c3RhbGU=' },
    });
    expect(foreign.seen[0]!.authorization).toBeUndefined();
    expect(headers.get('authorization')).toBe('Basic c3RhbGU=');
  });

  it('gives other HTTP clients the header through authorizationHeader', async () => {
    const { cache } = await setup();
    expect(await cache.authorizationHeader('user')).toBe('Bearer access-0');
  });
});
