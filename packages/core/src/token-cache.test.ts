import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { InvalidTokenResponseError, ReauthenticationRequiredError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { TokenCacheOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';
import type { TokenRecord, TokenStore } from './token-store.js';

const HOUR = 3_600_000;

function setup(options: Partial<TokenCacheOptions> = {}) {
  const clock = new ManualClock();
  const endpoint = new ScriptedEndpoint(clock.now);
  const cache = new TokenCache({ endpoint, now: clock.now, random: () => 0, ...options });
  return { clock, endpoint, cache };
}

function tokensExpiringIn(clock: ManualClock, ms: number, suffix = '0'): TokenSet {
  return { accessToken: `access-${suffix}`, refreshToken: `refresh-${suffix}`, expiresAt: clock.time + ms };
}

describe('TokenCache single flight', () => {
  it('coalesces 10,000 concurrent callers on an expired key into one endpoint call', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('user-1', tokensExpiringIn(clock, HOUR));
    clock.advance(HOUR + 1);
    endpoint.hold();
    const callers = Array.from({ length: 10_000 }, () => cache.getAccessToken('user-1'));
    await Promise.resolve();
    endpoint.release();
    const tokens = await Promise.all(callers);

    expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'refresh-0' }]);
    expect(new Set(tokens)).toEqual(new Set(['access-1']));
    expect(cache.stats()).toMatchObject({ refreshes: 1, coalesced: 9_999 });
  });

  it('runs refreshes of different keys independently', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('a', tokensExpiringIn(clock, 0, 'a'));
    await cache.set('b', tokensExpiringIn(clock, 0, 'b'));
    await Promise.all([cache.getAccessToken('a'), cache.getAccessToken('b'), cache.getAccessToken('a')]);
    expect(endpoint.calls.map((c) => c.refreshToken).sort()).toEqual(['refresh-a', 'refresh-b']);
  });

  it('bounds concurrent endpoint calls across keys by endpointConcurrency', async () => {
    const { clock, endpoint, cache } = setup({ endpointConcurrency: 3 });
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, tokensExpiringIn(clock, 0, String(i)));
    endpoint.hold();
    const all = Array.from({ length: 10 }, (_, i) => cache.getAccessToken(`k${i}`));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(endpoint.calls).toHaveLength(3);
    expect(cache.endpointLoad).toEqual({ running: 3, queued: 7 });
    // Release in waves until everything has gone through.
    while (endpoint.calls.length < 10 || cache.endpointLoad.running > 0) {
      endpoint.release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    endpoint.release();
    await Promise.all(all);
    expect(endpoint.calls).toHaveLength(10);
  });
});

describe('TokenCache hit path', () => {
  it('answers every hit on a record with the same settled promise, so a hit allocates none', async () => {
    const { clock, cache } = setup({ refreshWindowMs: 60_000 });
    await cache.set('user-1', tokensExpiringIn(clock, HOUR));
    const first = cache.getAccessToken('user-1');
    expect(cache.getAccessToken('user-1')).toBe(first);
    expect(await first).toBe('access-0');

    clock.advance(HOUR - 30_000); // inside the window: served the same way while the refresh runs
    expect(cache.getAccessToken('user-1')).toBe(first);
    await tick();
    const renewed = cache.getAccessToken('user-1');
    expect(renewed).not.toBe(first);
    expect(await renewed).toBe('access-1');
    expect(cache.stats().hits).toBe(4);
  });

  it('serves records from a store that copies them, which drops the settled promise', async () => {
    const records = new Map<string, TokenRecord>();
    const copyingStore: TokenStore = {
      get: (key) => (records.has(key) ? structuredClone(records.get(key)) : undefined),
      compareAndSet(key, record, expectedVersion) {
        if (records.get(key)?.version !== expectedVersion) return false;
        records.set(key, structuredClone(record));
        return true;
      },
      delete: (key) => void records.delete(key),
    };
    const { clock, cache } = setup({ store: copyingStore });
    await cache.set('user-1', tokensExpiringIn(clock, HOUR));
    expect(Object.getOwnPropertySymbols(records.get('user-1'))).toEqual([]);
    expect(await cache.getAccessToken('user-1')).toBe('access-0');
    expect(await cache.getAccessToken('user-1')).toBe('access-0');
  });
});

describe('TokenCache refresh window', () => {
  it('inside the window returns the current token without waiting and runs exactly one background refresh', async () => {
    const { clock, endpoint, cache } = setup({ refreshWindowMs: 60_000 });
    await cache.set('user-1', tokensExpiringIn(clock, HOUR));
    clock.advance(HOUR - 30_000);
    endpoint.hold();
    const during = await Promise.all(Array.from({ length: 50 }, () => cache.getAccessToken('user-1')));
    expect(new Set(during)).toEqual(new Set(['access-0']));
    expect(endpoint.calls).toHaveLength(1);
    endpoint.release();
    await tick();
    expect(await cache.getAccessToken('user-1')).toBe('access-1');
    expect(endpoint.calls).toHaveLength(1);
  });

  it('caps the window at half the lifetime of short-lived tokens', async () => {
    const { clock, endpoint, cache } = setup({ refreshWindowMs: 60_000 });
    await cache.set('user-1', tokensExpiringIn(clock, 10_000));
    clock.advance(4_999);
    await cache.getAccessToken('user-1');
    expect(endpoint.calls).toHaveLength(0);
    clock.advance(1);
    await cache.getAccessToken('user-1');
    await tick();
    expect(endpoint.calls).toHaveLength(1);
  });

  it('starts the refresh window * (1 - jitter * random) before expiry: from window * (1 - jitter) to window', async () => {
    for (const random of [0, 0.5, 0.999999]) {
      const { clock, endpoint, cache } = setup({ refreshWindowMs: 60_000, refreshJitter: 0.2, random: () => random });
      await cache.set('k', tokensExpiringIn(clock, HOUR));
      const start = clock.time;
      const expectedWindow = 60_000 * (1 - 0.2 * random);
      clock.time = start + HOUR - expectedWindow - 1;
      await cache.getAccessToken('k');
      await tick();
      expect(endpoint.calls).toHaveLength(0);
      clock.time = start + HOUR - expectedWindow;
      await cache.getAccessToken('k');
      await tick();
      expect(endpoint.calls).toHaveLength(1);
    }
  });

  it('treats tokens without an expiry as valid until invalidated', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', { accessToken: 'forever', refreshToken: 'r' });
    clock.advance(365 * 24 * HOUR);
    expect(await cache.getAccessToken('k')).toBe('forever');
    expect(await cache.invalidate('k', 'forever')).toBe(true);
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(endpoint.calls).toHaveLength(1);
  });

  it('backs off background refreshes after one fails, and still serves the valid token', async () => {
    const { clock, endpoint, cache } = setup({ refreshWindowMs: 60_000 });
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    clock.advance(HOUR - 50_000);
    endpoint.next = () => Promise.reject(new Error('endpoint down'));
    const errors: unknown[] = [];
    cache.on('refreshError', ({ error, background }) => errors.push([background, (error as Error).message]));
    expect(await cache.getAccessToken('k')).toBe('access-0');
    await tick();
    expect(await cache.getAccessToken('k')).toBe('access-0');
    expect(endpoint.calls).toHaveLength(1);
    expect(errors).toEqual([[true, 'endpoint down']]);
    clock.advance(BACKOFF_UPPER_BOUND_MS);
    endpoint.next = undefined;
    await cache.getAccessToken('k');
    await tick();
    expect(endpoint.calls).toHaveLength(2);
    expect(await cache.getAccessToken('k')).toBe('access-1');
  });
});

const BACKOFF_UPPER_BOUND_MS = 30_000;

describe('TokenCache persistence', () => {
  it('awaits save before any caller sees the new token', async () => {
    const order: string[] = [];
    let finishSave: () => void = () => {};
    const { clock, cache } = setup({
      save: (_key, tokens) => {
        order.push(`save ${tokens.accessToken}`);
        if (tokens.accessToken === 'access-0') return;
        return new Promise<void>((resolve) => {
          finishSave = () => {
            order.push('saved');
            resolve();
          };
        });
      },
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    const waiting = cache.getAccessToken('k').then((token) => order.push(`caller got ${token}`));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const late = cache.getAccessToken('k').then((token) => order.push(`late caller got ${token}`));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual(['save access-0', 'save access-1']);
    finishSave();
    await Promise.all([waiting, late]);
    expect(order.slice(0, 3)).toEqual(['save access-0', 'save access-1', 'saved']);
    expect(order.slice(3).sort()).toEqual(['caller got access-1', 'late caller got access-1']);
  });

  it('keeps using new tokens when save fails, emits saveError and retries the save', async () => {
    let failures = 1;
    const saved: string[] = [];
    const { clock, cache } = setup({
      save: (_key, tokens) => {
        if (tokens.accessToken === 'access-1' && failures-- > 0) throw new Error('db down');
        saved.push(tokens.accessToken);
      },
    });
    const saveErrors: unknown[] = [];
    cache.on('saveError', ({ key, attempt, error }) => saveErrors.push([key, attempt, (error as Error).message]));
    await cache.set('k', tokensExpiringIn(clock, 0));
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(saveErrors).toEqual([['k', 1, 'db down']]);
    // The retry runs on a real (unref'd) timer after about a second.
    await waitFor(async () => saved.includes('access-1'), 'The retried save', { timeoutMs: 3_000, intervalMs: 10 });
    expect(saved).toEqual(['access-0', 'access-1']);
  });

  it('leaves the stored tokens unchanged when a refresh fails', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => Promise.reject(new Error('boom'));
    await expect(cache.getAccessToken('k')).rejects.toThrow('boom');
    endpoint.next = () => ({ accessToken: '' }) as TokenSet;
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(InvalidTokenResponseError);
    endpoint.next = undefined;
    await cache.getAccessToken('k');
    expect(endpoint.calls.map((c) => c.refreshToken)).toEqual(['refresh-0', 'refresh-0', 'refresh-0']);
    expect(cache.stats().failures).toBe(2);
  });

  it('reads evicted keys back through load', async () => {
    const database = new Map<string, TokenSet>();
    const store = new MemoryStore({ max: 2 });
    const { clock, endpoint, cache } = setup({
      store,
      load: (key) => database.get(key),
      save: (key, tokens) => void database.set(key, tokens),
    });
    for (const key of ['a', 'b', 'c']) await cache.set(key, tokensExpiringIn(clock, HOUR, key));
    expect(store.size).toBe(2);
    expect(store.get('a')).toBeUndefined();
    expect(await cache.getAccessToken('a')).toBe('access-a');
    expect(endpoint.calls).toHaveLength(0);
    expect(cache.stats().misses).toBe(1);
  });

  it('keeps the old refresh token when the response has none', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => ({ accessToken: 'new-access', expiresAt: clock.time + HOUR });
    await cache.getAccessToken('k');
    clock.advance(HOUR);
    endpoint.next = undefined;
    await cache.getAccessToken('k');
    expect(endpoint.calls.map((c) => c.refreshToken)).toEqual(['refresh-0', 'refresh-0']);
  });

  it('rejects malformed tokens in set and keeps what was stored', async () => {
    const { clock, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    await expect(cache.set('k', { accessToken: 42 } as unknown as TokenSet)).rejects.toThrow(
      'Expected `tokens.accessToken` to be a non-empty string, got a value of type number',
    );
    await expect(
      cache.set('k', { accessToken: 'a', refreshToken: 'sneaky', expiresAt: Number.NaN } as TokenSet),
    ).rejects.toThrow(TypeError);
    expect(await cache.getAccessToken('k')).toBe('access-0');
  });
});

describe('TokenCache grants and keys', () => {
  it('refuses to mint tokens for an unknown user key', async () => {
    const { endpoint, cache } = setup();
    const reasons: string[] = [];
    cache.on('reauthenticationRequired', ({ reason }) => reasons.push(reason));
    const error = await cache.getAccessToken('nobody').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthenticationRequiredError);
    expect(error).toMatchObject({ code: 'ERR_REAUTHENTICATION_REQUIRED', reason: 'no_tokens', key: 'nobody' });
    expect(endpoint.calls).toHaveLength(0);
    expect(reasons).toEqual(['no_tokens']);
  });

  it('obtains client-credentials tokens for any key of a client_credentials cache, per-key endpoint', async () => {
    const clock = new ManualClock();
    const endpoints = new Map([
      ['billing', new ScriptedEndpoint(clock.now)],
      ['reports', new ScriptedEndpoint(clock.now)],
    ]);
    const cache = new TokenCache({
      grant: 'client_credentials',
      endpoint: (key) => endpoints.get(key)!,
      now: clock.now,
    });
    expect(await cache.getAccessToken('billing')).toBe('access-1');
    expect(await cache.getAccessToken('reports')).toBe('access-1');
    clock.advance(HOUR);
    await cache.getAccessToken('billing');
    expect(endpoints.get('billing')!.calls).toEqual([{ grant: 'client_credentials' }, { grant: 'client_credentials' }]);
    expect(endpoints.get('reports')!.calls).toHaveLength(1);
  });

  it('marks a dead grant and stops calling the endpoint until new tokens are set', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
    const events: unknown[] = [];
    cache.on('reauthenticationRequired', (event) => events.push(event));
    await expect(cache.getAccessToken('k')).rejects.toMatchObject({ reason: 'invalid_grant', upstreamStatus: 400 });
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(endpoint.calls).toHaveLength(1);
    expect(events).toEqual([{ key: 'k', reason: 'invalid_grant' }]);
    endpoint.next = undefined;
    await cache.set('k', tokensExpiringIn(clock, HOUR, 'again'));
    expect(await cache.getAccessToken('k')).toBe('access-again');
  });

  it('adopts a record another writer stored while its own refresh token was rejected (lost race)', async () => {
    const store = new MemoryStore();
    const { clock, endpoint, cache } = setup({ store });
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = async () => {
      // Another process rotated the token and wrote first; ours is now reused.
      const current = store.get('k')!;
      store.compareAndSet(
        'k',
        {
          ...current,
          version: current.version + 1,
          tokens: { accessToken: 'theirs', expiresAt: clock.time + HOUR },
          refreshAt: clock.time + HOUR / 2,
          usableUntil: clock.time + HOUR,
        },
        current.version,
      );
      throw new ReauthenticationRequiredError('invalid_grant');
    };
    expect(await cache.getAccessToken('k')).toBe('theirs');
  });

  it('rejects bad keys with a TypeError and touches nothing', async () => {
    const { cache } = setup();
    await expect(cache.getAccessToken('')).rejects.toThrow('Expected `key` to be a non-empty string');
    await expect(cache.getAccessToken(7 as unknown as string)).rejects.toThrow(TypeError);
    await expect(cache.set('x'.repeat(513), { accessToken: 'a' })).rejects.toThrow(TypeError);
  });

  it('lets an aborted caller stop waiting while the shared refresh completes for others', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.hold();
    const controller = new AbortController();
    const patient = cache.getAccessToken('k');
    const impatient = cache.getAccessToken('k', { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(impatient).rejects.toThrow('gave up');
    endpoint.release();
    expect(await patient).toBe('access-1');
  });

  it('forceRefresh refreshes a valid token once', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    const tokens = await Promise.all([
      cache.getAccessToken('k', { forceRefresh: true }),
      cache.getAccessToken('k', { forceRefresh: true }),
    ]);
    expect(tokens).toEqual(['access-1', 'access-1']);
    expect(endpoint.calls).toHaveLength(1);
  });
});

describe('TokenCache invalidate', () => {
  it('is a no-op for a stale token, so N 401s for one token cost one refresh', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    const results = await Promise.all(Array.from({ length: 5 }, () => cache.invalidate('k', 'access-0')));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(await cache.invalidate('k', 'access-0')).toBe(false);
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(endpoint.calls).toHaveLength(1);
  });

  it('delete forgets the key', async () => {
    const { clock, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    await cache.delete('k');
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
  });
});

describe('TokenCache events', () => {
  it('emits refresh events that carry no token values', async () => {
    const { clock, cache } = setup();
    const payloads: unknown[] = [];
    for (const name of ['refresh', 'refreshError', 'reauthenticationRequired', 'saveError'] as const) {
      cache.on(name, (payload) => payloads.push(payload));
    }
    await cache.set('k', tokensExpiringIn(clock, 0));
    await cache.getAccessToken('k');
    expect(payloads).toEqual([{ key: 'k', durationMs: 0, background: false }]);
    expect(JSON.stringify(payloads)).not.toMatch(/access-|refresh-/);
  });
});

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

describe('TokenCache close', () => {
  it('waits for refreshes in flight to store their tokens, and starts no more background refreshes', async () => {
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const store = new MemoryStore();
    const cache = new TokenCache({ endpoint, store, now: clock.now, random: () => 0 });
    await cache.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR });
    clock.advance(HOUR - 1_000);
    endpoint.hold();
    await cache.getAccessToken('k'); // starts a background refresh, parked at the endpoint
    await tick();
    let closed = false;
    const closing = cache.close().then(() => (closed = true));
    await tick();
    expect(closed).toBe(false);
    endpoint.release();
    await closing;
    expect(store.get('k')!.tokens.refreshToken).toBe('refresh-1');

    await cache.set('j', { accessToken: 'b0', refreshToken: 'rb', expiresAt: clock.time + HOUR });
    clock.advance(HOUR - 1_000);
    expect(await cache.getAccessToken('j')).toBe('b0');
    await tick();
    expect(endpoint.calls).toHaveLength(1);
  });
});

describe('TokenCache.getTokenSet', () => {
  it('returns the whole fresh set, by the same rules as getAccessToken', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', { ...tokensExpiringIn(clock, HOUR), scope: 'read write', tokenType: 'Bearer' });
    expect(await cache.getTokenSet('k')).toEqual({
      accessToken: 'access-0',
      refreshToken: 'refresh-0',
      expiresAt: clock.time + HOUR,
      scope: 'read write',
      tokenType: 'bearer',
    });
    clock.advance(HOUR + 1);
    const refreshed = await cache.getTokenSet('k');
    expect(refreshed).toMatchObject({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    expect(Object.isFrozen(refreshed)).toBe(true);
    expect(endpoint.calls).toHaveLength(1);
    await expect(cache.getTokenSet('nobody')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    await expect(cache.getTokenSet('')).rejects.toThrow(TypeError);
  });
});
