import { describe, expect, it } from '@jest/globals';
import { LockableStore } from '../../../test/support/lockable-store.js';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { coarseClock } from './coarse-clock.js';
import {
  CorruptRecordError,
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  TokenEndpointConfigurationError,
} from './errors.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { TokenCacheOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';
import type { TokenRecord, TokenStore } from './token-store.js';

const HOUR = 3_600_000;

function setup(options: Partial<TokenCacheOptions> = {}) {
  const clock = new ManualClock();
  const endpoint = new ScriptedEndpoint(clock.now);
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const cache = new TokenCache({ endpoint, now: clock.now, random: () => 0, store, ...options });
  return { clock, endpoint, cache, store };
}

function tokensExpiringIn(clock: ManualClock, ms: number, suffix = '0'): TokenSet {
  return { accessToken: `access-${suffix}`, refreshToken: `refresh-${suffix}`, expiresAt: clock.time + ms };
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A promise with its resolver, for hooks a test settles by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function presented(endpoint: ScriptedEndpoint): (string | undefined)[] {
  return endpoint.calls.map((call) => call.refreshToken);
}

describe('invalidate racing a refresh', () => {
  it('never undoes a rotation: the rotated set is stored and the consumed refresh token never presented again', async () => {
    const { clock, endpoint, cache, store } = setup({ refreshWindowMs: 60_000 });
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    clock.advance(HOUR - 30_000);
    endpoint.hold();
    expect(await cache.getAccessToken('k')).toBe('access-0'); // starts the background refresh
    await tick();
    expect(await cache.invalidate('k', 'access-0')).toBe(true); // a 401 on another request
    endpoint.release();
    await waitFor(async () => cache.stats().refreshes + cache.stats().failures > 0, 'the refresh to settle');

    expect(store.get('k')!.tokens.refreshToken).toBe('refresh-1');
    expect(await cache.getAccessToken('k')).toBe('access-1');
    clock.advance(HOUR);
    await cache.getAccessToken('k');
    expect(presented(endpoint)).toEqual(['refresh-0', 'refresh-1']);
  });

  it('rebases a rotated set onto an invalidation that landed while the caller waited', async () => {
    const { clock, endpoint, cache, store } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.hold();
    const waiting = cache.getAccessToken('k');
    await tick();
    expect(await cache.invalidate('k')).toBe(true);
    endpoint.release();
    expect(await waiting).toBe('access-1');
    expect(store.get('k')).toMatchObject({ tokens: { refreshToken: 'refresh-1' } });
    expect(store.get('k')!.usableUntil).toBeGreaterThan(clock.time);
  });
});

describe('a cross-process lock that lapses', () => {
  it('a holder that lost its lock while queued never presents the refresh token', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const options = { endpoint, now: clock.now, random: () => 0, endpointConcurrency: 1 };
    const a = new TokenCache({ ...options, store: shared.process() });
    const b = new TokenCache({ ...options, store: shared.process() });
    await a.set('busy', tokensExpiringIn(clock, 0, 'busy'));
    await a.set('k', tokensExpiringIn(clock, 0));
    endpoint.hold();
    const busy = a.getAccessToken('busy'); // occupies a's only endpoint slot
    await waitFor(async () => endpoint.calls.length === 1, 'the busy call');
    const fromA = a.getAccessToken('k').catch((error: unknown) => error);
    await waitFor(async () => shared.isLocked('k'), 'a to hold the lock of k');
    shared.lapse('k'); // a is still queued behind `busy`
    const fromB = b.getAccessToken('k');
    await waitFor(async () => endpoint.calls.length === 2, 'b to call the endpoint');
    endpoint.release();
    await busy;
    expect(await fromB).toBe('access-2');
    const resultA = await fromA;
    if (typeof resultA !== 'string') expect(resultA).toBeInstanceOf(StoreUnavailableError);
    expect(presented(endpoint).filter((token) => token === 'refresh-0')).toEqual(['refresh-0']);
    expect(shared.shared.get('k')!.tokens.refreshToken).toBe('refresh-2');
  });

  it("passes the lock's `lost` signal to the endpoint call", async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const signals: (AbortSignal | undefined)[] = [];
    const endpoint = new ScriptedEndpoint(clock.now);
    const refresh = endpoint.refresh.bind(endpoint);
    endpoint.refresh = (token, options) => {
      signals.push(options?.signal);
      return refresh(token, options);
    };
    const cache = new TokenCache({ endpoint, now: clock.now, store: shared.process() });
    await cache.set('k', tokensExpiringIn(clock, 0));
    await cache.getAccessToken('k');
    expect(signals).toHaveLength(1);
    expect(signals[0]).toBeInstanceOf(AbortSignal);
  });

  it('reads the shared record (fresh) after taking the lock, not a stale local copy', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const options = { endpoint, now: clock.now, random: () => 0 };
    const a = new TokenCache({ ...options, store: shared.process() });
    const b = new TokenCache({ ...options, store: shared.process() });
    await a.set('k', tokensExpiringIn(clock, HOUR));
    expect(await b.getAccessToken('k')).toBe('access-0'); // b's local copy now holds version 1 (refresh-0)
    expect(await a.getAccessToken('k', { forceRefresh: true })).toBe('access-1'); // a rotates: refresh-0 -> refresh-1
    // b's local copy is stale; after taking the lock b must see a's record, not present refresh-0 again.
    expect(await b.getAccessToken('k', { forceRefresh: true })).toBe('access-1');
    expect(presented(endpoint)).toEqual(['refresh-0']);
  });
});

describe('the store unreachable between the answer and the write', () => {
  it('keeps the rotated set, serves it, writes it when the store returns, and presents only it next', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const saved: string[] = [];
    const cache = new TokenCache({
      endpoint,
      now: clock.now,
      random: () => 0,
      store: shared.process(),
      save: (_key, tokens) => void saved.push(tokens.refreshToken!),
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => {
      shared.down = true; // the server answered; the store went away before the write
      endpoint.next = undefined;
      return { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: clock.time + HOUR };
    };
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(endpoint.calls).toHaveLength(1);

    shared.down = false;
    await cache.getAccessToken('k');
    await waitFor(
      async () => shared.shared.get('k')?.tokens.refreshToken === 'refresh-1',
      'the kept set to be written',
    );
    expect(saved.at(-1)).toBe('refresh-1');

    clock.advance(HOUR);
    await cache.getAccessToken('k');
    expect(presented(endpoint)).toEqual(['refresh-0', 'refresh-1']);
    expect(saved.at(-1)).toBe(shared.shared.get('k')!.tokens.refreshToken);
  });

  it('holds the lock until the kept set is written: another process that gets the lock presents only the rotated token', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const [a, b] = [0, 1].map(
      () => new TokenCache({ endpoint, now: clock.now, random: () => 0, store: shared.process() }),
    ) as [TokenCache, TokenCache];
    await a.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => {
      shared.down = true; // the server answered; the store blinked during the write
      endpoint.next = undefined;
      return { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: clock.time + HOUR };
    };
    expect(await a.getAccessToken('k')).toBe('access-1'); // kept
    // Back before A's lock was released: released now, it would hand B the consumed refresh-0.
    shared.down = false;
    expect(shared.isLocked('k')).toBe(true);
    expect(await b.getAccessToken('k')).toBe('access-1');
    expect(presented(endpoint)).toEqual(['refresh-0']);
    expect(shared.isLocked('k')).toBe(false);
    expect(shared.shared.get('k')!.tokens.refreshToken).toBe('refresh-1');
  });

  it('drops a kept set when a new login is set, so the store and save hook agree on the newest grant', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const saved: string[] = [];
    const cache = new TokenCache({
      endpoint,
      now: clock.now,
      store: shared.process(),
      save: (_key, tokens) => void saved.push(tokens.refreshToken!),
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => {
      shared.down = true;
      endpoint.next = undefined;
      return { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: clock.time + HOUR };
    };
    await cache.getAccessToken('k');
    shared.down = false;
    await cache.set('k', tokensExpiringIn(clock, HOUR, 'login'));
    expect(await cache.getAccessToken('k')).toBe('access-login');
    await tick();
    expect(shared.shared.get('k')!.tokens.refreshToken).toBe('refresh-login');
    expect(saved.at(-1)).toBe('refresh-login');
  });
});

describe('the store unreachable for a login or a logout while a rotated set is kept', () => {
  it('a set or delete the store refused leaves the kept set live; once written, the store and the save hook agree', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const saved: string[] = [];
    const cache = new TokenCache({
      endpoint,
      now: clock.now,
      store: shared.process(),
      save: (_key, tokens) => void saved.push(tokens.refreshToken!),
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => {
      shared.down = true;
      endpoint.next = undefined;
      return { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: clock.time + HOUR };
    };
    expect(await cache.getAccessToken('k')).toBe('access-1');
    await expect(cache.set('k', tokensExpiringIn(clock, HOUR, 'login'))).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(cache.delete('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await cache.getAccessToken('k')).toBe('access-1');
    shared.down = false;
    await cache.getAccessToken('k');
    await waitFor(
      async () => shared.shared.get('k')?.tokens.refreshToken === 'refresh-1',
      'the kept set to be written',
    );
    await waitFor(async () => saved.at(-1) === 'refresh-1', 'the save hook to agree with the store');
    expect(endpoint.calls).toHaveLength(1);
  });
});

describe('an unusable set from a custom endpoint', () => {
  it('rejects with InvalidTokenResponseError and leaves the stored record as it was', async () => {
    const { clock, endpoint, cache, store } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    const before = store.get('k');
    endpoint.next = () => ({ accessToken: 'new', refreshToken: 'rotated', expiresAt: Infinity });
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(InvalidTokenResponseError);
    expect(store.get('k')?.tokens).toBe(before?.tokens);
    expect(store.get('k')?.health).toMatchObject({ state: 'failing', code: 'ERR_INVALID_TOKEN_RESPONSE' });
    endpoint.next = () => ({ accessToken: 'new', refreshToken: 42 }) as unknown as TokenSet;
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(InvalidTokenResponseError);
    expect(store.get('k')?.tokens).toBe(before?.tokens);
  });
});

describe('delete and set racing a refresh', () => {
  it('delete during a refresh: the refresh neither writes nor saves, and the key stays deleted', async () => {
    const saved: string[] = [];
    const { clock, endpoint, cache, store } = setup({ save: (_key, tokens) => void saved.push(tokens.accessToken) });
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.hold();
    const waiting = cache.getAccessToken('k').catch((error: unknown) => error);
    await tick();
    await cache.delete('k');
    endpoint.release();
    expect(await waiting).toBeInstanceOf(ReauthenticationRequiredError);
    expect(store.get('k')).toBeUndefined();
    expect(saved).toEqual(['access-0']);
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
  });

  it('delete waits for a save in progress, so no save lands after it resolves', async () => {
    const order: string[] = [];
    const slow = deferred();
    const { clock, cache, store } = setup({
      save: async (_key, tokens) => {
        if (tokens.accessToken === 'access-0') return;
        order.push('save started');
        await slow.promise;
        order.push('save done');
      },
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    const waiting = cache.getAccessToken('k').catch(() => {});
    await waitFor(async () => order.length === 1, 'the save to start');
    const deleting = cache.delete('k').then(() => order.push('deleted'));
    await tick();
    slow.resolve();
    await Promise.all([deleting, waiting]);
    expect(order).toEqual(['save started', 'save done', 'deleted']);
    expect(store.get('k')).toBeUndefined();
  });

  it('two logins racing a slow save: the store and the save hook both end with the newest', async () => {
    const database = new Map<string, string>();
    const slow = deferred();
    const { clock, cache, store } = setup({
      save: async (key, tokens) => {
        if (tokens.accessToken === 'access-first') await slow.promise;
        database.set(key, tokens.accessToken);
      },
    });
    const first = cache.set('k', tokensExpiringIn(clock, HOUR, 'first'));
    await tick();
    const second = cache.set('k', tokensExpiringIn(clock, HOUR, 'second'));
    await tick();
    slow.resolve();
    await Promise.all([first, second]);
    expect(store.get('k')!.tokens.accessToken).toBe('access-second');
    expect(database.get('k')).toBe('access-second');
  });

  it('a login racing a refresh whose save is retried: the store and the save hook end with the login', async () => {
    const database = new Map<string, string>();
    const retry = deferred();
    let attempts = 0;
    const { clock, cache, store } = setup({
      save: async (key, tokens) => {
        if (tokens.accessToken === 'access-1' && ++attempts === 1) throw new Error('db hiccup');
        if (tokens.accessToken === 'access-1') await retry.promise; // the retry is slow
        database.set(key, tokens.accessToken);
      },
    });
    await cache.set('k', tokensExpiringIn(clock, 0));
    expect(await cache.getAccessToken('k')).toBe('access-1');
    await waitFor(async () => attempts === 2, 'the save retry to start', { timeoutMs: 3_000, intervalMs: 10 });
    const login = cache.set('k', tokensExpiringIn(clock, HOUR, 'login'));
    await tick();
    retry.resolve();
    await login;
    await tick();
    expect(store.get('k')!.tokens.accessToken).toBe('access-login');
    expect(database.get('k')).toBe('access-login');
  });
});

describe('a corrupt record', () => {
  function corruptStore(storedVersion: number | undefined) {
    const inner = new MemoryStore();
    const calls: string[] = [];
    let corrupt = true;
    const store: TokenStore = {
      get(key) {
        if (corrupt) throw new CorruptRecordError(key, 'bad bytes (test)', { storedVersion });
        return inner.get(key);
      },
      compareAndSet(key, record: TokenRecord, expectedVersion) {
        calls.push(`cas ${String(expectedVersion)}`);
        if (corrupt && expectedVersion !== storedVersion) return false;
        if (corrupt && storedVersion === undefined) return false;
        corrupt = false;
        return inner.compareAndSet(key, record, undefined);
      },
      delete(key) {
        calls.push('delete');
        if (storedVersion === undefined) corrupt = false;
        inner.delete(key);
      },
    };
    return { store, calls };
  }

  it('does not block set when its version is readable: compare-and-set on the stored version', async () => {
    const { store, calls } = corruptStore(7);
    const { clock, cache } = setup({ store: store as MemoryStore });
    await cache.set('k', tokensExpiringIn(clock, HOUR, 'again'));
    expect(await cache.getAccessToken('k')).toBe('access-again');
    expect(calls).toEqual(['cas 7']);
  });

  it('does not block set when nothing is readable: delete, then write', async () => {
    const { store, calls } = corruptStore(undefined);
    const { clock, cache } = setup({ store: store as MemoryStore });
    await cache.set('k', tokensExpiringIn(clock, HOUR, 'again'));
    expect(await cache.getAccessToken('k')).toBe('access-again');
    expect(calls).toEqual(['delete', 'cas undefined']);
  });
});

describe('endpoint protection', () => {
  it('a token expired on arrival is served for a short floor instead of refreshing on every call', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', tokensExpiringIn(clock, 0));
    endpoint.next = () => ({ accessToken: 'stillborn', refreshToken: 'refresh-x', expiresAt: clock.time });
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) tokens.push(await cache.getAccessToken('k'));
    await tick();
    expect(tokens).toEqual(Array(20).fill('stillborn'));
    expect(endpoint.calls).toHaveLength(1);
  });

  it('does not mark a client-credentials identity dead after invalid_grant: it backs off, then tries again', async () => {
    const { clock, endpoint, cache } = setup({ grant: 'client_credentials' });
    expect(await cache.getAccessToken('svc')).toBe('access-1');
    clock.advance(HOUR);
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }));
    await expect(cache.getAccessToken('svc')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    await expect(cache.getAccessToken('svc')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(endpoint.calls).toHaveLength(2); // the second caller was answered from the backoff
    endpoint.next = undefined;
    clock.advance(10 * 60_000);
    expect(await cache.getAccessToken('svc')).toBe('access-2');
  });

  it('backs off a client-credentials identity the endpoint refused (invalid_client) instead of calling on every request', async () => {
    const { clock, endpoint, cache } = setup({ grant: 'client_credentials' });
    endpoint.next = () =>
      Promise.reject(new TokenEndpointConfigurationError('invalid_client', { upstreamStatus: 401 }));
    for (let i = 0; i < 5; i++) {
      await expect(cache.getAccessToken('svc')).rejects.toBeInstanceOf(TokenEndpointConfigurationError);
    }
    expect(endpoint.calls).toHaveLength(1);
    endpoint.next = undefined;
    clock.advance(10 * 60_000);
    expect(await cache.getAccessToken('svc')).toBe('access-1');
  });
});

describe('availability', () => {
  it('serves a valid local token while the store is down and a background refresh holds the lock', async () => {
    const shared = new LockableStore();
    const clock = new ManualClock();
    const endpoint = new ScriptedEndpoint(clock.now);
    const cache = new TokenCache({ endpoint, now: clock.now, random: () => 0, store: shared.process() });
    await cache.set('k', tokensExpiringIn(clock, HOUR));
    clock.advance(HOUR - 30_000);
    endpoint.hold();
    expect(await cache.getAccessToken('k')).toBe('access-0');
    await waitFor(async () => endpoint.calls.length === 1, 'the background refresh to hold the lock');
    shared.down = true;
    for (let i = 0; i < 3; i++) expect(await cache.getAccessToken('k')).toBe('access-0');
    expect(await cache.getAccessToken('k', { signal: new AbortController().signal })).toBe('access-0');
    shared.down = false;
    endpoint.release();
  });

  it('a save hook that never settles times out: callers get their token, saveError is emitted, close() resolves', async () => {
    const { clock, cache } = setup({
      hookTimeoutMs: 20,
      save: (_key, tokens) => (tokens.accessToken === 'access-0' ? undefined : new Promise<void>(() => {})),
    });
    const errors: unknown[] = [];
    cache.on('saveError', ({ error }) => errors.push(error));
    await cache.set('k', tokensExpiringIn(clock, 0));
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
    await cache.close();
  });

  it('a load hook that never settles times out with StoreUnavailableError, and close() resolves', async () => {
    const { cache } = setup({ hookTimeoutMs: 20, load: () => new Promise<undefined>(() => {}) });
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    await cache.close();
  });

  it('bounds its memory of failed background refreshes: the oldest are forgotten beyond 10,000 keys', async () => {
    const { clock, endpoint, cache } = setup({ store: new MemoryStore({ max: 20_000 }), refreshWindowMs: 60_000 });
    const keys = Array.from({ length: 10_001 }, (_, i) => `k${i}`);
    for (const key of keys) await cache.set(key, tokensExpiringIn(clock, HOUR, key));
    clock.advance(HOUR - 30_000);
    endpoint.next = () => Promise.reject(new Error('endpoint down'));
    for (const [index, key] of keys.entries()) {
      await cache.getAccessToken(key);
      if (index % 500 === 0) await tick();
    }
    await tick();
    expect(endpoint.calls).toHaveLength(10_001);
    // k0's backoff was the least recently recorded: forgotten, so its next hit tries again.
    await cache.getAccessToken('k0');
    await tick();
    await cache.getAccessToken('k10000');
    await tick();
    expect(presented(endpoint).slice(10_001)).toEqual(['refresh-k0']);
  });
});

describe('the coarse clock', () => {
  it('never reads earlier than the system clock, so no token is served past an expiresAt given to set', async () => {
    let system = Date.now() + 60_000; // ahead of the real clock, so only the injected reading passes
    const clock = coarseClock(10, () => system);
    // Within one resolution (the timer has not fired yet), the system clock moves on; the reading must not lag it.
    for (let step = 0; step <= 10; step++) {
      expect(clock()).toBeGreaterThanOrEqual(system);
      system += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    system += 20;
    expect(clock()).toBeGreaterThanOrEqual(system);
  });
});
