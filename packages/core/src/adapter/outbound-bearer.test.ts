import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { ScriptedEndpoint } from '../../../../test/support/scripted-endpoint.js';
import { OriginNotAllowedError } from '../errors.js';
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

  it('allows only the cache origins, however the URL is spelled, and remembers none it refused', () => {
    const bearer = new OutboundBearer({ cache });
    expect(bearer.allowedOriginOf(api)).toBe(api);
    expect(bearer.allowedOriginOf(`${api}/me?x=1`)).toBe(api);
    expect(bearer.allowedOriginOf('HTTPS://API.example.com:443/me')).toBe(api);
    for (const refused of [
      'https://api.example.com.evil.test',
      'https://api.example.com@evil.test/',
      'http://api.example.com',
    ]) {
      expect(() => bearer.allowedOriginOf(refused)).toThrow(OriginNotAllowedError);
      expect(() => bearer.allowedOriginOf(refused)).toThrow(OriginNotAllowedError);
    }
    expect(() => bearer.allowedOriginOf('not a url')).toThrow('Invalid URL');
  });

  it('retries only a first 401 to the bearer with a replayable body', () => {
    const bearer = new OutboundBearer({ cache });
    expect(bearer.shouldRetry(401, 1, true, true)).toBe(true);
    expect([
      bearer.shouldRetry(403, 1, true, true),
      bearer.shouldRetry(401, 2, true, true),
      bearer.shouldRetry(401, 1, false, true),
      bearer.shouldRetry(401, 1, true, false),
    ]).toEqual([false, false, false, false]);
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
