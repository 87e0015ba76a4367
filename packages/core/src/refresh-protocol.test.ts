import { describe, expect, it } from '@jest/globals';
import PQueue from 'p-queue';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { ReauthenticationRequiredError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import { RefreshProtocol, TAKEOVER_GRACE_MS, type RefreshRun } from './refresh-protocol.js';
import type { TokenCacheEvents } from './token-cache-options.js';
import type { TokenStore } from './token-store.js';

const HOUR = 3_600_000;

/**
 * The protocol on its own, against a store, with no TokenCache around it.
 * With `tookOver`, the store has locks, each taken over (or not) from a lapsed holder.
 */
function setup(tookOver?: boolean) {
  const clock = new ManualClock();
  const endpoint = new ScriptedEndpoint(clock.now);
  const store = new MemoryStore();
  const reads = { fresh: 0 };
  const locking: TokenStore = {
    get: (key, options) => {
      if (options?.fresh === true) reads.fresh++;
      return store.get(key);
    },
    compareAndSet: (key, record, expected) => store.compareAndSet(key, record, expected),
    delete: (key) => store.delete(key),
    lock: async () => ({ tookOver, release: async () => {} }),
  };
  const events: [keyof TokenCacheEvents, unknown][] = [];
  const protocol = new RefreshProtocol({
    store: tookOver === undefined ? store : locking,
    grant: 'refresh_token',
    endpointFor: () => endpoint,
    queue: new PQueue({ concurrency: 1 }),
    load: undefined,
    saves: undefined,
    hookTimeoutMs: 1_000,
    refreshWindowMs: 60_000,
    refreshJitter: 0,
    keepAlive: { leadMs: 3_600_000, idleMs: undefined },
    now: clock.now,
    random: () => 0,
    emit: (name, payload) => void events.push([name, payload]),
  });
  const run = (): RefreshRun => ({ promise: Promise.resolve(undefined as never), deleted: false });
  return { clock, endpoint, store, protocol, events, run, reads };
}

describe('RefreshProtocol against a store', () => {
  it('refreshes a stale record: presents its refresh token once and writes the next version', async () => {
    const { clock, endpoint, store, protocol, run } = setup();
    await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
    const record = await protocol.refresh('k', 1, false, run());
    expect(record).toMatchObject({ version: 2, tokens: { accessToken: 'access-1', refreshToken: 'refresh-1' } });
    expect(store.get('k')).toBe(record);
    expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'r0' }]);
    expect(protocol.refreshes).toBe(1);
  });

  it('returns a usable record a newer writer stored instead of calling the endpoint', async () => {
    const { clock, endpoint, protocol, run } = setup();
    await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + HOUR }, clock.time);
    const record = await protocol.refresh('k', 0, false, run());
    expect(record.tokens.accessToken).toBe('a0');
    expect(endpoint.calls).toHaveLength(0);
  });

  it('rebases its result onto an invalidation that landed during the endpoint call', async () => {
    const { clock, endpoint, store, protocol, run } = setup();
    await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
    endpoint.hold();
    const refreshing = protocol.refresh('k', 1, false, run());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(await protocol.invalidate('k', 'a0')).toBe(true);
    endpoint.release();
    expect(await refreshing).toMatchObject({ version: 3, tokens: { refreshToken: 'refresh-1' } });
    expect(store.get('k')!.version).toBe(3);
  });

  it('marks the grant dead on invalid_grant and refuses without calling again', async () => {
    const { clock, endpoint, store, protocol, events, run } = setup();
    await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant'));
    await expect(protocol.refresh('k', 1, false, run())).rejects.toMatchObject({ reason: 'invalid_grant' });
    expect(store.get('k')!.reauthenticationRequired).toBe(true);
    await expect(protocol.refresh('k', 2, false, run())).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(endpoint.calls).toHaveLength(1);
    expect(events).toEqual([
      [
        'grantDead',
        {
          key: 'k',
          state: 'dead',
          previous: 'healthy',
          code: 'ERR_REAUTHENTICATION_REQUIRED',
          oauthError: 'invalid_grant',
        },
      ],
      ['reauthenticationRequired', { key: 'k', reason: 'invalid_grant' }],
    ]);
  });

  it('does not write the result of a refresh whose key was deleted meanwhile', async () => {
    const { clock, endpoint, store, protocol, run } = setup();
    await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
    endpoint.hold();
    const inFlight = run();
    const refreshing = protocol.refresh('k', 1, false, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await protocol.delete('k', () => inFlight);
    endpoint.release();
    await expect(refreshing).rejects.toMatchObject({ reason: 'no_tokens' });
    expect(store.get('k')).toBeUndefined();
  });

  describe('after taking over a lock whose lease ran out unreleased', () => {
    it('waits for the previous holder’s write and adopts it, presenting nothing', async () => {
      const { clock, endpoint, store, protocol, run } = setup(true);
      await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
      const refreshing = protocol.refresh('k', 1, false, run());
      // The previous holder's kept set lands while the taker waits.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const kept = { ...store.get('k')!, version: 2, tokens: { accessToken: 'a1', refreshToken: 'r1' } };
      expect(store.compareAndSet('k', { ...kept, usableUntil: Infinity }, 1)).toBe(true);
      expect((await refreshing).tokens.accessToken).toBe('a1');
      expect(endpoint.calls).toHaveLength(0);
    });

    it('refreshes once the grace period passed without a write', async () => {
      const { clock, endpoint, protocol, run, reads } = setup(true);
      await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
      reads.fresh = 0;
      const refreshed = await protocol.refresh('k', 1, false, run());
      // The re-read after taking the lock, then one every 100 ms of the grace period.
      expect(reads.fresh).toBe(1 + TAKEOVER_GRACE_MS / 100);
      expect(refreshed.tokens.refreshToken).toBe('refresh-1');
      expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'r0' }]);
    });

    it('does not wait when the lock was released by its previous holder', async () => {
      const { clock, endpoint, protocol, run, reads } = setup(false);
      await protocol.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time }, clock.time);
      reads.fresh = 0;
      await protocol.refresh('k', 1, false, run());
      expect(reads.fresh).toBe(1); // the re-read after taking the lock, and no waiting
      expect(endpoint.calls).toHaveLength(1);
    });
  });
});
