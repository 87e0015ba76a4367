import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  MemoryStore,
  OAuth2Endpoint,
  ReauthenticationRequiredError,
  RefreshkitError,
  TokenCache,
  TokenEndpointUnavailableError,
  toTokenSet,
  type EndpointCallOptions,
  type TokenEndpoint,
  type TokenSet,
} from '@refreshkit/core';
import { LockableStore } from './support/lockable-store.js';

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

/** One step of a random interleaving of two processes sharing a store. */
type RaceStep =
  | { op: 'get'; process: 0 | 1; key: string; force: boolean }
  | { op: 'invalidate'; process: 0 | 1; key: string }
  | { op: 'delete'; process: 0 | 1; key: string }
  | { op: 'set'; process: 0 | 1; key: string }
  | { op: 'answer'; duringOutage: boolean }
  | { op: 'lapse'; key: string }
  | { op: 'outage'; down: boolean }
  | { op: 'advance'; ms: number };

const processIndex = fc.constantFrom<0 | 1>(0, 1);
const raceStep: fc.Arbitrary<RaceStep> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('get' as const), process: processIndex, key, force: fc.boolean() }),
    weight: 4,
  },
  fc.record({ op: fc.constant('invalidate' as const), process: processIndex, key }),
  fc.record({ op: fc.constant('delete' as const), process: processIndex, key }),
  fc.record({ op: fc.constant('set' as const), process: processIndex, key }),
  { arbitrary: fc.record({ op: fc.constant('answer' as const), duringOutage: fc.boolean() }), weight: 4 },
  fc.record({ op: fc.constant('lapse' as const), key }),
  fc.record({ op: fc.constant('outage' as const), down: fc.boolean() }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 90_000 }) }),
);

/**
 * An authorization server with strict single-use refresh tokens: every token
 * presented is consumed, a second presentation is recorded (and answered
 * `invalid_grant`, as reuse detection does). Answers wait until the test
 * lets the oldest one go, so steps interleave with calls in flight.
 */
class SingleUseServer implements TokenEndpoint {
  readonly consumed = new Set<string>();
  readonly reused: string[] = [];
  readonly inFlight: { key: string; go: () => void }[] = [];
  /** Answer at once (the end of a run, to let everything settle). */
  auto = false;
  #serial = 0;

  constructor(private readonly now: () => number) {}

  async refresh(refreshToken: string, _options?: EndpointCallOptions): Promise<TokenSet> {
    if (this.consumed.has(refreshToken)) {
      this.reused.push(refreshToken);
      throw new ReauthenticationRequiredError('invalid_grant');
    }
    this.consumed.add(refreshToken);
    const key = refreshToken.split(':')[0]!;
    if (!this.auto) await new Promise<void>((go) => this.inFlight.push({ key, go }));
    const serial = ++this.#serial;
    return {
      accessToken: `${key}:access:${serial}`,
      refreshToken: `${key}:refresh:${serial}`,
      expiresAt: this.now() + 60_000,
    };
  }

  clientCredentials(): Promise<TokenSet> {
    return Promise.reject(new Error('not used'));
  }

  /** Lets every answer go, now and from now on. */
  drain(): void {
    this.auto = true;
    for (const call of this.inFlight.splice(0)) call.go();
  }
}

describe('rotation under races, lapsed locks and outages (fast-check)', () => {
  it('never presents a refresh token twice, never loses a rotated set, never brings a deleted key back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(raceStep, { minLength: 1, maxLength: 40 }), async (steps) => {
        let time = 1_700_000_000_000;
        const now = () => time;
        const server = new SingleUseServer(now);
        const shared = new LockableStore();
        const caches = [0, 1].map(
          () =>
            new TokenCache({
              endpoint: server,
              store: shared.process(),
              now,
              refreshWindowMs: 30_000,
              endpointConcurrency: 1, // holders queue behind each other's keys: their locks can lapse while queued
              hookTimeoutMs: 1_000,
              save: () => {},
            }),
        );
        const outcomes: Promise<unknown>[] = [];
        /** Records a call's outcome, checked once everything settled (a rejection is not unhandled meanwhile). */
        const track = (outcome: Promise<unknown>) => {
          outcome.catch(() => {});
          outcomes.push(outcome);
          return outcome;
        };
        /** Keys deleted, and not `set` since: the store must never hold them again. */
        const deleted = new Set<string>();
        let serial = 0;
        const checkStore = () => {
          expect(server.reused).toEqual([]);
          for (const k of deleted) expect(shared.shared.get(k)).toBeUndefined();
        };
        const settleStep = () => new Promise((resolve) => setTimeout(resolve, 0));
        for (const s of steps) {
          if (s.op === 'get') {
            const cache = caches[s.process]!;
            track(
              cache.getAccessToken(s.key, s.force ? { forceRefresh: true } : undefined).then((token) => {
                expect(token.startsWith(`${s.key}:`)).toBe(true);
              }),
            );
          } else if (s.op === 'invalidate') {
            track(caches[s.process]!.invalidate(s.key));
          } else if (s.op === 'delete') {
            await track(caches[s.process]!.delete(s.key).then(() => deleted.add(s.key))).catch(() => {});
          } else if (s.op === 'set') {
            deleted.delete(s.key);
            const n = ++serial;
            track(
              caches[s.process]!.set(s.key, {
                accessToken: `${s.key}:login:${n}`,
                refreshToken: `${s.key}:login-refresh:${n}`,
                expiresAt: time + 60_000,
              }),
            );
          } else if (s.op === 'answer') {
            const call = server.inFlight.shift();
            if (call !== undefined) {
              if (s.duringOutage) shared.down = true; // the server answered; the store is gone before the write
              call.go();
            }
          } else if (s.op === 'lapse') {
            // A lock lapses only while its holder has not presented the token yet
            // (queued, or between steps): once sent, no lock can help, and
            // RedisTokenStore renews its locks while the call runs.
            if (shared.isLocked(s.key) && !server.inFlight.some((call) => call.key === s.key)) shared.lapse(s.key);
          } else if (s.op === 'outage') {
            shared.down = s.down;
          } else {
            time += s.ms;
          }
          await settleStep();
          checkStore();
        }

        // Let everything settle with the store back: every answer goes, each
        // cache writes what it kept, and the shutdown drains its refreshes.
        shared.down = false;
        server.drain();
        const results = await Promise.allSettled(outcomes);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(RefreshkitError);
        }
        for (const cache of caches) await cache.close();
        checkStore();
        for (const k of KEYS) {
          const record = shared.shared.get(k);
          if (record === undefined || record.reauthenticationRequired) continue;
          // A stored refresh token the server consumed means a rotated set was lost or rolled back.
          const refreshToken = record.tokens.refreshToken;
          if (refreshToken !== undefined) expect(server.consumed.has(refreshToken)).toBe(false);
        }
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

describe('grant health under random outages and sweeps (fast-check)', () => {
  it('an outage never makes a grant dead, health agrees with the last outcome, and sweeps never roll tokens back', async () => {
    type HealthStep = { op: 'advance'; ms: number } | { op: 'outage'; on: boolean } | { op: 'get' } | { op: 'sweep' };
    const healthStep: fc.Arbitrary<HealthStep> = fc.oneof(
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 6 * 3_600_000 }) }),
      fc.record({ op: fc.constant('outage' as const), on: fc.boolean() }),
      fc.record({ op: fc.constant('get' as const) }),
      fc.record({ op: fc.constant('sweep' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(healthStep, { minLength: 1, maxLength: 40 }), async (steps) => {
        let now = 1_700_000_000_000;
        let outage = false;
        let serial = 0;
        const endpoint: TokenEndpoint = {
          refresh: async () => {
            if (outage) throw new TokenEndpointUnavailableError('down', { upstreamStatus: 503 });
            serial++;
            return {
              accessToken: `access-${serial}`,
              refreshToken: `refresh-${serial}`,
              expiresAt: now + 3_600_000,
              refreshTokenExpiresAt: now + 24 * 3_600_000,
            };
          },
          clientCredentials: async () => {
            throw new Error('not used');
          },
        };
        const store = new MemoryStore();
        // No refresh window: no background refresh can change the health behind a check.
        const cache = new TokenCache({ endpoint, store, now: () => now, random: () => 0.5, refreshWindowMs: 0 });
        const dead: string[] = [];
        cache.on('grantDead', ({ key }) => dead.push(key));
        await cache.set('k', {
          accessToken: 'access-0',
          refreshToken: 'refresh-0',
          expiresAt: now + 3_600_000,
          refreshTokenExpiresAt: now + 24 * 3_600_000,
        });
        let highest = 0;
        let last: 'ok' | 'failed' | undefined;
        for (const s of steps) {
          if (s.op === 'advance') now += s.ms;
          else if (s.op === 'outage') outage = s.on;
          else {
            const before = serial;
            const { refreshTokenExpiresAt } = store.get('k')!.tokens;
            const pastRefreshTokenExpiry = refreshTokenExpiresAt !== undefined && now >= refreshTokenExpiresAt;
            const outcome =
              s.op === 'get'
                ? await cache.getAccessToken('k').then(
                    () => 'ok' as const,
                    (error: unknown) => error,
                  )
                : (await cache.sweep()).failed > 0
                  ? 'failed'
                  : 'ok';
            if (outcome instanceof ReauthenticationRequiredError) {
              // Only a refresh token past its stated expiry may kill the grant, never the outage.
              expect(outcome.reason).toBe('refresh_token_expired');
              await cache.close();
              return;
            }
            if (s.op === 'sweep' && pastRefreshTokenExpiry) {
              // The sweep came after the refresh token's stated expiry (no sweep ran
              // in time): that, never the outage, may kill the grant.
              await cache.close();
              return;
            }
            if (outcome !== 'ok') last = 'failed';
            else if (serial > before) last = 'ok';
          }
          // Read the store itself: a `getTokenSet` here would refresh and change what is being checked.
          const n = Number(store.get('k')!.tokens.accessToken.split('-')[1]);
          expect(n).toBeGreaterThanOrEqual(highest);
          highest = n;
          const health = await cache.health('k');
          expect(health?.state).not.toBe('dead');
          if (last === 'failed') expect(health?.state).toBe('failing');
          if (last === 'ok') expect(health?.state).toBe('healthy');
        }
        expect(dead).toEqual([]);
        await cache.close();
      }),
      { numRuns: 100 },
    );
  });
});
