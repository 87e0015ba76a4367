import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { ReauthenticationRequiredError, TokenEndpointUnavailableError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import type { GrantHealthEvent } from './token-cache-options.js';

const HOUR = 3_600_000;

function setup() {
  const clock = new ManualClock();
  const endpoint = new ScriptedEndpoint(clock.now);
  const store = new MemoryStore();
  const cache = new TokenCache({ endpoint, store, now: clock.now, random: () => 0 });
  const events: (GrantHealthEvent & { name: string })[] = [];
  for (const name of ['grantFailing', 'grantDead', 'grantRecovered'] as const) {
    cache.on(name, (event) => events.push({ name, ...event }));
  }
  return { clock, endpoint, store, cache, events };
}

const outage = (): never => {
  throw new TokenEndpointUnavailableError('The token endpoint answered 503', { upstreamStatus: 503 });
};

describe('grant health', () => {
  it('is undefined for an unknown key and healthy with the expiry times after set', async () => {
    const { clock, cache } = setup();
    expect(await cache.health('nobody')).toBeUndefined();
    await cache.set('k', {
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + 48 * HOUR,
      grantExpiresAt: clock.time + 96 * HOUR,
    });
    expect(await cache.health('k')).toEqual({
      state: 'healthy',
      failures: 0,
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + 48 * HOUR,
      grantExpiresAt: clock.time + 96 * HOUR,
    });
  });

  it('turns failing on an outage, stays failing however long it lasts, and recovers on the next success', async () => {
    const { clock, endpoint, cache, events } = setup();
    await cache.set('k', { accessToken: 'a', refreshToken: 'r', expiresAt: clock.time + HOUR });
    const startedAt = clock.time + HOUR;
    clock.advance(HOUR);
    endpoint.next = outage;
    for (let day = 0; day < 30; day++) {
      await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(TokenEndpointUnavailableError);
      clock.advance(24 * HOUR);
    }
    const failing = await cache.health('k');
    expect(failing).toMatchObject({
      state: 'failing',
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      since: startedAt,
      failures: 30,
    });
    expect(failing!.nextAttemptAt).toBeGreaterThan(clock.time - 24 * HOUR);
    expect(events).toEqual([
      { name: 'grantFailing', key: 'k', state: 'failing', previous: 'healthy', code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' },
    ]);
    endpoint.next = undefined;
    expect(await cache.getAccessToken('k')).toBe('access-1');
    expect(await cache.health('k')).toMatchObject({ state: 'healthy', failures: 0 });
    expect(events[1]).toEqual({ name: 'grantRecovered', key: 'k', state: 'healthy', previous: 'failing' });
  });

  it('turns dead on invalid_grant with the OAuth error, and a new set makes it healthy again', async () => {
    const { clock, endpoint, cache, events } = setup();
    await cache.set('k', { accessToken: 'a', refreshToken: 'r', expiresAt: clock.time + HOUR });
    clock.advance(HOUR);
    endpoint.next = () => {
      throw new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 });
    };
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(await cache.health('k')).toMatchObject({
      state: 'dead',
      code: 'ERR_REAUTHENTICATION_REQUIRED',
      oauthError: 'invalid_grant',
      failures: 1,
    });
    expect(events).toEqual([
      {
        name: 'grantDead',
        key: 'k',
        state: 'dead',
        previous: 'healthy',
        code: 'ERR_REAUTHENTICATION_REQUIRED',
        oauthError: 'invalid_grant',
      },
    ]);
    await cache.set('k', { accessToken: 'b', refreshToken: 'r2', expiresAt: clock.time + HOUR });
    expect(await cache.health('k')).toMatchObject({ state: 'healthy' });
    expect(events[1]).toEqual({ name: 'grantRecovered', key: 'k', state: 'healthy', previous: 'dead' });
  });

  it('turns dead, once, when the refresh token is known to have expired, without calling the endpoint', async () => {
    const { clock, endpoint, cache, events } = setup();
    await cache.set('k', {
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + 2 * HOUR,
    });
    clock.advance(2 * HOUR);
    await expect(cache.getAccessToken('k')).rejects.toMatchObject({ reason: 'refresh_token_expired' });
    await expect(cache.getAccessToken('k')).rejects.toMatchObject({ reason: 'refresh_token_expired' });
    expect(endpoint.calls).toHaveLength(0);
    expect(await cache.health('k')).toMatchObject({ state: 'dead', oauthError: 'refresh_token_expired' });
    expect(events.map((e) => e.name)).toEqual(['grantDead']);
  });

  it('keeps the tokens when the health write loses a race, and never blocks the caller on a failing store write', async () => {
    const { clock, endpoint, store, cache } = setup();
    await cache.set('k', { accessToken: 'a', refreshToken: 'r', expiresAt: clock.time + HOUR });
    clock.advance(HOUR);
    endpoint.next = outage;
    const cas = store.compareAndSet.bind(store);
    store.compareAndSet = () => {
      throw new Error('store down');
    };
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(TokenEndpointUnavailableError);
    store.compareAndSet = cas;
    expect((await store.get('k'))?.tokens.accessToken).toBe('a');
    expect(await cache.health('k')).toMatchObject({ state: 'healthy' });
  });

  it('puts no token in health or its events', async () => {
    const { clock, endpoint, cache, events } = setup();
    await cache.set('k', {
      accessToken: 'secret-access',
      refreshToken: 'secret-refresh',
      expiresAt: clock.time + HOUR,
    });
    clock.advance(HOUR);
    endpoint.next = () => {
      throw new TokenEndpointUnavailableError('secret-refresh leaked?', { oauthError: 'temporarily_unavailable' });
    };
    await expect(cache.getAccessToken('k')).rejects.toThrow();
    const text = JSON.stringify([await cache.health('k'), events]);
    expect(text).not.toContain('secret');
    expect(text).toContain('temporarily_unavailable');
  });
});
