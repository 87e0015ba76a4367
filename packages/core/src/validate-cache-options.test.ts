import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { TokenCacheOptions } from './token-cache-options.js';
import { validateCacheOptions } from './validate-cache-options.js';

const endpoint = new ScriptedEndpoint(new ManualClock().now);

describe('TokenCache options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['missing endpoint', { endpoint: undefined }, 'Expected `endpoint` to be an object, got `undefined` (undefined)'],
    [
      'endpoint without refresh',
      { endpoint: { clientCredentials() {} } },
      'Expected `endpoint.refresh` to be a function',
    ],
    [
      'unknown grant',
      { grant: 'password' },
      'Expected `grant` to be one of `refresh_token`, `client_credentials`, got `password` (string)',
    ],
    [
      'negative window',
      { refreshWindowMs: -1 },
      'Expected `refreshWindowMs` to be a finite number >= 0, got `-1` (number)',
    ],
    [
      'infinite window',
      { refreshWindowMs: Infinity },
      'Expected `refreshWindowMs` to be a finite number >= 0, got `Infinity` (number)',
    ],
    [
      'jitter above 1',
      { refreshJitter: 1.5 },
      'Expected `refreshJitter` to be a finite number from 0 to 1, got `1.5` (number)',
    ],
    ['zero concurrency', { endpointConcurrency: 0 }, 'Expected `endpointConcurrency` to be an integer from 1 to'],
    ['fractional concurrency', { endpointConcurrency: 1.5 }, 'Expected `endpointConcurrency` to be an integer'],
    ['bad rate limit', { endpointRateLimit: { limit: 0, intervalMs: 1000 } }, 'Expected `endpointRateLimit.limit`'],
    ['load not a function', { load: 'db' }, 'Expected `load` to be a function, got `db` (string)'],
    ['save not a function', { save: {} }, 'Expected `save` to be a function, got `object` (object)'],
    ['store without CAS', { store: { get() {}, delete() {} } }, 'Expected `store.compareAndSet` to be a function'],
    ['origins not an array', { allowedOrigins: 'https://api.example.com' }, 'Expected `allowedOrigins` to be an array'],
    [
      'origin with a path',
      { allowedOrigins: ['https://api.example.com/v1'] },
      'Expected `allowedOrigins[0]` to be an http(s) origin with no path',
    ],
    ['origin not a URL', { allowedOrigins: ['api.example.com'] }, 'Expected `allowedOrigins[0]` to be an origin'],
    [
      'zero hook timeout',
      { hookTimeoutMs: 0 },
      'Expected `hookTimeoutMs` to be an integer from 1 to 2147483647, got `0`',
    ],
    ['infinite hook timeout', { hookTimeoutMs: Infinity }, 'Expected `hookTimeoutMs` to be an integer from 1 to'],
    ['hook timeout beyond a timer', { hookTimeoutMs: 2 ** 31 }, 'Expected `hookTimeoutMs` to be an integer from 1 to'],
    ['clock not a function', { now: 5 }, 'Expected `now` to be a function, got `5` (number)'],
  ])('rejects %s with a message naming the option', (_name, override, message) => {
    const options = { endpoint, ...override } as unknown as TokenCacheOptions;
    expect(() => new TokenCache(options)).toThrow(TypeError);
    expect(() => new TokenCache(options)).toThrow(message);
  });

  it('does not mutate the options object and applies defaults', () => {
    const options = Object.freeze({ endpoint, allowedOrigins: Object.freeze(['https://api.example.com']) });
    expect(() => new TokenCache(options)).not.toThrow();
    expect(options).toEqual({ endpoint, allowedOrigins: ['https://api.example.com'] });
    expect(validateCacheOptions(options)).toMatchObject({
      grant: 'refresh_token',
      refreshWindowMs: 60_000,
      refreshJitter: 0.2,
      endpointConcurrency: 8,
      hookTimeoutMs: 10_000,
    });
    expect(validateCacheOptions({ endpoint, refreshWindowMs: undefined }).refreshWindowMs).toBe(60_000);
  });

  it('defaults hookTimeoutMs to 10 s', () => {
    expect(validateCacheOptions({ endpoint }).hookTimeoutMs).toBe(10_000);
    expect(validateCacheOptions({ endpoint, hookTimeoutMs: 250 }).hookTimeoutMs).toBe(250);
  });

  it('rejects a bad MemoryStore max', () => {
    expect(() => new MemoryStore({ max: 0 })).toThrow(
      'Expected `max` to be an integer from 1 to 4294967296, got `0` (number)',
    );
  });
});
