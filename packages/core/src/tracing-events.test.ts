import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiServer } from '../../../test/support/api-server.js';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { TokenCacheEvents, TokenCacheOptions } from './token-cache-options.js';
import type { StoreLock } from './token-store.js';

const HOUR = 3_600_000;

let api: ApiServer;
beforeAll(async () => {
  api = await ApiServer.start();
});
afterAll(() => api.close());

/** A memory store with a lock, so the `lock` step shows. */
class LockingStore extends MemoryStore {
  locks = 0;
  lock(_key: string): Promise<StoreLock> {
    this.locks++;
    return Promise.resolve({ release: () => Promise.resolve() });
  }
}

function setup(options: Partial<TokenCacheOptions> = {}) {
  const clock = new ManualClock(Date.now());
  const endpoint = new ScriptedEndpoint(clock.now);
  const cache = new TokenCache({ endpoint, now: clock.now, random: () => 0, allowedOrigins: [api.origin], ...options });
  const seen: string[] = [];
  const settlements: Promise<string>[] = [];
  const record = <Name extends keyof TokenCacheEvents>(
    name: Name,
    describe: (payload: TokenCacheEvents[Name]) => string,
  ) => cache.on(name, (payload) => seen.push(describe(payload)));
  record('refreshStart', ({ key, reason, background, settled }) => {
    settlements.push(settled.then((s) => `refresh ${key} ${s.ok ? `refreshed=${s.refreshed}` : 'failed'}`));
    return `refreshStart ${key} ${reason}${background ? ' background' : ''}`;
  });
  record('refreshStep', ({ step, settled }) => {
    settlements.push(settled.then((s) => `${step} ${s.ok ? 'ok' : 'failed'}`));
    return `step ${step}`;
  });
  record('waitStart', ({ reason, coalesced, settled }) => {
    settlements.push(settled.then((s) => `wait ${s.ok ? 'ok' : 'failed'}`));
    return `wait ${reason}${coalesced ? ' coalesced' : ''}`;
  });
  record('fetchRetry', ({ origin, status }) => `retry ${status} ${origin === api.origin ? 'api' : origin}`);
  return { clock, endpoint, cache, seen, settled: () => Promise.all(settlements) };
}

describe('tracing events', () => {
  it('announces a waited refresh, its steps in order, and how each ended', async () => {
    const store = new LockingStore();
    const { clock, cache, seen, settled } = setup({ store, save: () => {} });
    await cache.set('user', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR });
    clock.advance(HOUR + 1);
    await Promise.all([cache.getAccessToken('user'), cache.getAccessToken('user')]);
    expect(seen).toEqual([
      'refreshStart user expired',
      'step lock',
      'wait expired',
      'wait expired coalesced',
      'step endpoint',
      'step save',
      'step store_write',
    ]);
    expect(await settled()).toEqual([
      'refresh user refreshed=true',
      'lock ok',
      'wait ok',
      'wait ok',
      'endpoint ok',
      'save ok',
      'store_write ok',
    ]);
  });

  it('announces a hit inside the refresh window as a background refresh with no waiter, and counts it', async () => {
    const { clock, cache, seen } = setup({ refreshWindowMs: 60_000 });
    await cache.set('user', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR });
    await cache.getAccessToken('user');
    expect(seen).toEqual([]);
    clock.advance(HOUR - 30_000);
    expect(await cache.getAccessToken('user')).toBe('a0');
    expect(seen[0]).toBe('refreshStart user refresh_ahead background');
    expect(seen.filter((line) => line.startsWith('wait'))).toEqual([]);
    expect(cache.stats()).toMatchObject({ hits: 2, refreshAheadHits: 1 });
  });

  it('settles a failed refresh and its waiters as failures, never rejecting', async () => {
    const { clock, endpoint, cache, settled } = setup();
    await cache.set('user', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR });
    clock.advance(HOUR + 1);
    endpoint.next = () => {
      throw new Error('endpoint down');
    };
    await expect(cache.getAccessToken('user')).rejects.toThrow('endpoint down');
    expect(await settled()).toEqual(['refresh user failed', 'wait failed', 'endpoint failed']);
  });

  it('names the reason: a miss, a forced refresh, an invalidated token', async () => {
    const { cache, seen, settled } = setup({ grant: 'client_credentials' });
    await cache.getAccessToken('svc');
    await cache.getAccessToken('svc', { forceRefresh: true });
    await cache.invalidate('svc');
    await cache.getAccessToken('svc');
    await settled();
    expect(seen.filter((line) => line.startsWith('wait'))).toEqual(['wait miss', 'wait forced', 'wait invalidated']);
  });

  it('announces the 401 retry of cache.fetch with the origin', async () => {
    const { clock, cache, seen } = setup();
    await cache.set('user', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR });
    api.isValid = (token) => token !== 'a0';
    try {
      const response = await cache.fetch('user', `${api.origin}/me`);
      expect(response.status).toBe(200);
    } finally {
      api.isValid = () => true;
    }
    expect(seen).toEqual([
      'retry 401 api',
      'refreshStart user invalidated',
      'wait invalidated',
      'step endpoint',
      'step store_write',
    ]);
  });
});
