import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  MemoryStore,
  OAuth2Endpoint,
  RefreshkitError,
  TokenCache,
  TokenEndpointUnavailableError,
  toTokenSet,
  type TokenEndpoint,
  type TokenSet,
} from '@refreshkit/core';

const KEYS = ['a', 'b', 'c'] as const;

/** One step of a random interleaving. */
type Step =
  | { op: 'set'; key: string; lifetimeMs: number; withRefreshToken: boolean }
  | { op: 'get'; key: string; callers: number; force: boolean }
  | { op: 'invalidate'; key: string; current: boolean }
  | { op: 'delete'; key: string }
  | { op: 'advance'; ms: number }
  | { op: 'endpoint'; failing: boolean };

const key = fc.constantFrom(...KEYS);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key,
    lifetimeMs: fc.integer({ min: 0, max: 120_000 }),
    withRefreshToken: fc.boolean(),
  }),
  fc.record({ op: fc.constant('get' as const), key, callers: fc.integer({ min: 1, max: 20 }), force: fc.boolean() }),
  fc.record({ op: fc.constant('invalidate' as const), key, current: fc.boolean() }),
  fc.record({ op: fc.constant('delete' as const), key }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 90_000 }) }),
  fc.record({ op: fc.constant('endpoint' as const), failing: fc.boolean() }),
);

/**
 * An endpoint that checks single flight itself: refresh tokens name their
 * key, and two refreshes of one key at once fail the test.
 */
class CheckingEndpoint implements TokenEndpoint {
  failing = false;
  maxConcurrentPerKey = 0;
  readonly #inFlight = new Map<string, number>();
  #serial = 0;

  constructor(private readonly now: () => number) {}

  async refresh(refreshToken: string): Promise<TokenSet> {
    const key = refreshToken.split(':')[0]!;
    const running = (this.#inFlight.get(key) ?? 0) + 1;
    this.#inFlight.set(key, running);
    this.maxConcurrentPerKey = Math.max(this.maxConcurrentPerKey, running);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (this.failing) throw new TokenEndpointUnavailableError('down');
      const serial = ++this.#serial;
      return {
        accessToken: `${key}:access:${serial}`,
        refreshToken: `${key}:refresh:${serial}`,
        expiresAt: this.now() + 60_000,
      };
    } finally {
      this.#inFlight.set(key, running - 1);
    }
  }

  clientCredentials(): Promise<TokenSet> {
    return Promise.reject(new Error('not used'));
  }
}

describe('cache invariants under random interleavings (fast-check)', () => {
  it('never an untyped error, never a partial record, one refresh per key at a time, saved before used', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        let time = 1_700_000_000_000;
        const now = () => time;
        const endpoint = new CheckingEndpoint(now);
        const store = new MemoryStore();
        const saved = new Set<string>();
        const cache = new TokenCache({
          endpoint,
          store,
          now,
          save: (_key, tokens) => void saved.add(tokens.accessToken),
        });
        let serial = 0;
        for (const s of steps) {
          if (s.op === 'set') {
            const n = ++serial;
            await cache.set(s.key, {
              accessToken: `${s.key}:set:${n}`,
              ...(s.withRefreshToken && { refreshToken: `${s.key}:setrt:${n}` }),
              expiresAt: time + s.lifetimeMs,
            });
          } else if (s.op === 'get') {
            const results = await Promise.allSettled(
              Array.from({ length: s.callers }, () =>
                cache.getAccessToken(s.key, s.force ? { forceRefresh: true } : undefined),
              ),
            );
            for (const result of results) {
              if (result.status === 'fulfilled') {
                expect(result.value.startsWith(`${s.key}:`)).toBe(true);
                expect(saved.has(result.value)).toBe(true); // saved before used
              } else {
                expect(result.reason).toBeInstanceOf(RefreshkitError);
              }
            }
          } else if (s.op === 'invalidate') {
            const token = s.current ? store.get(s.key)?.tokens.accessToken : 'not-the-current-token';
            await cache.invalidate(s.key, token);
          } else if (s.op === 'delete') {
            await cache.delete(s.key);
          } else if (s.op === 'advance') {
            time += s.ms;
          } else {
            endpoint.failing = s.failing;
          }
          // Let background refreshes settle before checking the store.
          await new Promise((resolve) => setTimeout(resolve, 2));
          for (const k of KEYS) {
            const record = store.get(k);
            if (record === undefined) continue;
            expect(() => toTokenSet(record.tokens)).not.toThrow();
            expect(record.tokens.accessToken.startsWith(`${k}:`)).toBe(true);
            expect(record.version).toBeGreaterThan(0);
            expect(record.refreshAt).toBeLessThanOrEqual(record.usableUntil);
          }
        }
        expect(endpoint.maxConcurrentPerKey).toBeLessThanOrEqual(1);
      }),
      { numRuns: 150 },
    );
  });
});

describe('random option objects (fast-check)', () => {
  const anything = fc.oneof(fc.anything(), fc.func(fc.anything()), fc.constant(undefined));

  it('TokenCache either accepts its options or throws a TypeError naming one', () => {
    const endpoint = new CheckingEndpoint(Date.now);
    fc.assert(
      fc.property(
        fc.record(
          {
            endpoint: fc.oneof(fc.constant(endpoint), anything),
            grant: fc.oneof(fc.constantFrom('refresh_token', 'client_credentials'), anything),
            refreshWindowMs: fc.oneof(fc.integer(), fc.double(), anything),
            refreshJitter: fc.oneof(fc.double(), anything),
            endpointConcurrency: fc.oneof(fc.integer(), anything),
            allowedOrigins: fc.oneof(fc.array(fc.webUrl()), anything),
            load: anything,
          },
          { requiredKeys: [] },
        ),
        (options) => {
          try {
            new TokenCache(options as never);
          } catch (error) {
            expect(error).toBeInstanceOf(TypeError);
            expect((error as Error).message).toMatch(/^Expected `[^`]+` to be /);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('OAuth2Endpoint either accepts its options or throws a TypeError that never shows the secret', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            tokenUrl: fc.oneof(fc.webUrl(), fc.constant('http://127.0.0.1/token'), anything),
            clientId: fc.oneof(fc.string(), anything),
            clientSecret: fc.oneof(fc.constant('SENTINEL-SECRET-VALUE'), anything),
            authMethod: fc.oneof(fc.constantFrom('client_secret_basic', 'client_secret_post', 'none'), anything),
            bodyEncoding: fc.oneof(fc.constantFrom('form', 'json'), anything),
            timeoutMs: fc.oneof(fc.integer(), anything),
            retry: fc.oneof(fc.record({ maxAttempts: fc.integer() }), anything),
          },
          { requiredKeys: [] },
        ),
        (options) => {
          try {
            new OAuth2Endpoint(options as never);
          } catch (error) {
            expect(error).toBeInstanceOf(TypeError);
            expect((error as Error).message).not.toContain('SENTINEL-SECRET-VALUE');
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
