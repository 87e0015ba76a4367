import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { TokenEndpointUnavailableError } from './errors.js';
import { sweepAtFor } from './keep-alive.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { TokenCacheOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';
import type { TokenStore } from './token-store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup(options: Partial<TokenCacheOptions> = {}) {
  const clock = new ManualClock();
  const endpoint = new ScriptedEndpoint(clock.now);
  endpoint.next = (call) => ({
    accessToken: `access-${endpoint.calls.length}`,
    refreshToken: `refresh-${endpoint.calls.length}`,
    expiresAt: clock.time + HOUR,
    refreshTokenExpiresAt: clock.time + 7 * DAY,
    ...(call.refreshToken === undefined ? {} : {}),
  });
  const store = new MemoryStore();
  const cache = new TokenCache({ endpoint, store, now: clock.now, random: () => 0, ...options });
  return { clock, endpoint, store, cache };
}

const grant = (clock: ManualClock, extra: Partial<TokenSet> = {}): TokenSet => ({
  accessToken: 'a',
  refreshToken: 'r',
  expiresAt: clock.time + HOUR,
  refreshTokenExpiresAt: clock.time + 7 * DAY,
  ...extra,
});

describe('sweepAtFor', () => {
  const schedule = { leadMs: HOUR, idleMs: undefined };
  it('is due a tenth of the refresh token’s life before it ends, at least the lead, at most half of it', () => {
    expect(sweepAtFor({ accessToken: 'a', refreshToken: 'r', refreshTokenExpiresAt: 100 * HOUR }, 0, schedule, 0)).toBe(
      90 * HOUR,
    );
    expect(sweepAtFor({ accessToken: 'a', refreshToken: 'r', refreshTokenExpiresAt: 5 * HOUR }, 0, schedule, 0)).toBe(
      4 * HOUR,
    );
    expect(sweepAtFor({ accessToken: 'a', refreshToken: 'r', refreshTokenExpiresAt: HOUR }, 0, schedule, 0)).toBe(
      HOUR / 2,
    );
  });
  it('is never due without a refresh token or when the refresh token lives as long as the grant', () => {
    expect(sweepAtFor({ accessToken: 'a', refreshTokenExpiresAt: DAY }, 0, schedule, 0)).toBeUndefined();
    const capped = { accessToken: 'a', refreshToken: 'r', refreshTokenExpiresAt: DAY, grantExpiresAt: DAY };
    expect(sweepAtFor(capped, 0, { leadMs: HOUR, idleMs: HOUR }, 0)).toBeUndefined();
    expect(sweepAtFor({ accessToken: 'a', refreshToken: 'r' }, 0, schedule, 0)).toBeUndefined();
  });
  it('is due after the idle bound and jitters earlier, never later', () => {
    expect(sweepAtFor({ accessToken: 'a', refreshToken: 'r' }, 0, { leadMs: HOUR, idleMs: DAY }, 0)).toBe(DAY);
    const jittered = sweepAtFor({ accessToken: 'a', refreshToken: 'r' }, 0, { leadMs: HOUR, idleMs: DAY }, 0.99)!;
    expect(jittered).toBeLessThan(DAY);
    expect(jittered).toBeGreaterThan(0.9 * DAY - 1);
  });
});

describe('cache.sweep()', () => {
  it('refreshes only due grants, skipping dead and unextendable ones, and counts them', async () => {
    const { clock, endpoint, cache } = setup();
    const sweeps: unknown[] = [];
    cache.on('sweep', (event) => sweeps.push(event));
    await cache.set('due', grant(clock));
    await cache.set('later', grant(clock, { refreshTokenExpiresAt: clock.time + 30 * DAY }));
    await cache.set('capped', grant(clock, { grantExpiresAt: clock.time + 7 * DAY }));
    await cache.set('no-refresh', {
      accessToken: 'a',
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + DAY,
    });
    clock.advance(7 * DAY - HOUR);
    expect(await cache.sweep()).toEqual({ due: 1, refreshed: 1, failed: 0, skipped: 0 });
    expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'r' }]);
    expect(sweeps).toEqual([{ due: 1, refreshed: 1, failed: 0, skipped: 0, durationMs: 0 }]);
    // The refreshed grant is due again only near its new refresh token's end.
    expect(await cache.sweep()).toEqual({ due: 0, refreshed: 0, failed: 0, skipped: 0 });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('keeps a grant alive across an idle period many times its refresh token’s life, and without sweeps it dies', async () => {
    const kept = setup();
    const idle = setup();
    for (const { cache, clock } of [kept, idle]) await cache.set('k', grant(clock));
    for (let hour = 0; hour < 60 * 24; hour++) {
      kept.clock.advance(HOUR);
      idle.clock.advance(HOUR);
      await kept.cache.sweep();
    }
    expect(await kept.cache.getAccessToken('k')).toMatch(/^access-/);
    expect(kept.endpoint.calls.length).toBeGreaterThanOrEqual(60 / 7);
    await expect(idle.cache.getAccessToken('k')).rejects.toMatchObject({ reason: 'refresh_token_expired' });
  });

  it('refreshes a grant idle for keepAlive.idleMs', async () => {
    const { clock, endpoint, cache } = setup({ keepAlive: { intervalMs: HOUR, idleMs: 3 * DAY } });
    await cache.set('k', { accessToken: 'a', refreshToken: 'r', expiresAt: clock.time + HOUR });
    clock.advance(3 * DAY - 1);
    expect((await cache.sweep()).due).toBe(0);
    clock.advance(1);
    expect(await cache.sweep()).toMatchObject({ due: 1, refreshed: 1 });
    expect(endpoint.calls).toHaveLength(1);
    await cache.close();
  });

  it('retries a failing grant with backoff and never declares it dead, then it recovers', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', grant(clock));
    clock.advance(7 * DAY - HOUR);
    const answer = endpoint.next!;
    endpoint.next = () => {
      throw new TokenEndpointUnavailableError('down');
    };
    expect(await cache.sweep()).toEqual({ due: 1, refreshed: 0, failed: 1, skipped: 0 });
    const health = await cache.health('k');
    expect(health).toMatchObject({ state: 'failing', failures: 1 });
    // Not due again before its next attempt.
    expect((await cache.sweep()).due).toBe(0);
    clock.time = health!.nextAttemptAt!;
    endpoint.next = answer;
    expect(await cache.sweep()).toMatchObject({ due: 1, refreshed: 1 });
    expect(await cache.health('k')).toMatchObject({ state: 'healthy' });
  });

  it('takes keys from keepAlive.keys, loading them from the app’s database', async () => {
    const clock = new ManualClock();
    const db = new Map<string, TokenSet>([['k', grant(clock)]]);
    const { endpoint, cache } = setup({
      now: clock.now,
      load: (key) => db.get(key),
      save: (key, tokens) => void db.set(key, tokens),
      keepAlive: { intervalMs: HOUR, keys: () => db.keys() },
    });
    clock.advance(7 * DAY - HOUR);
    expect(await cache.sweep()).toMatchObject({ due: 1, refreshed: 1 });
    expect(endpoint.calls).toHaveLength(1);
    expect(db.get('k')?.refreshToken).toBe('refresh-1');
    await cache.close();
  });

  it('goes through the endpoint concurrency limit', async () => {
    const { clock, endpoint, cache } = setup({ endpointConcurrency: 2 });
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, grant(clock));
    clock.advance(7 * DAY - HOUR);
    endpoint.hold();
    const sweep = cache.sweep();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(cache.endpointLoad).toEqual({ running: 2, queued: 8 });
    endpoint.release();
    while (cache.endpointLoad.running + cache.endpointLoad.queued > 0) {
      endpoint.release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(await sweep).toMatchObject({ due: 10, refreshed: 10 });
  });

  it('runs periodically with keepAlive, and close() stops it and waits for the running sweep', async () => {
    const { clock, endpoint, cache } = setup({ keepAlive: { intervalMs: 1_000 } });
    await cache.set('k', grant(clock));
    clock.advance(7 * DAY - HOUR);
    const swept = await new Promise((resolve) => cache.once('sweep', resolve));
    expect(swept).toMatchObject({ due: 1, refreshed: 1 });
    expect(endpoint.calls).toHaveLength(1);
    await cache.close();
    clock.advance(7 * DAY);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(endpoint.calls).toHaveLength(1);
  });

  it('rejects keepAlive without keys over a store that cannot list due keys, and bad numbers', () => {
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const bare: TokenStore = { get: () => undefined, compareAndSet: () => true, delete: () => {} };
    expect(() => new TokenCache({ endpoint, store: bare, keepAlive: { intervalMs: 60_000 } })).toThrow(
      /Expected `keepAlive.keys` to be a function/,
    );
    expect(() => new TokenCache({ endpoint, keepAlive: { intervalMs: 10 } })).toThrow(
      'Expected `keepAlive.intervalMs` to be an integer from 1000 to 2147483647, got `10` (number)',
    );
    expect(() => new TokenCache({ endpoint, keepAlive: { intervalMs: 60_000, leadMs: -1 } })).toThrow(
      /Expected `keepAlive.leadMs` to be a finite number >= 0/,
    );
    expect(() => new TokenCache({ endpoint, keepAlive: { intervalMs: 60_000, idleMs: 0 } })).toThrow(
      /Expected `keepAlive.idleMs`/,
    );
  });
});
