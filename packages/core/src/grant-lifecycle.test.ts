import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { ReauthenticationRequiredError } from './errors.js';
import { TokenCache } from './token-cache.js';
import type { RefreshOptions } from './token-endpoint.js';
import type { TokenSet } from './token-set.js';

const HOUR = 3_600_000;

/** A scripted endpoint that also records the `previous` set each refresh was given. */
class RecordingEndpoint extends ScriptedEndpoint {
  readonly previous: (TokenSet | undefined)[] = [];
  override refresh(refreshToken: string, options?: RefreshOptions): Promise<TokenSet> {
    this.previous.push(options?.previous);
    return super.refresh(refreshToken, options);
  }
}

function setup() {
  const clock = new ManualClock();
  const endpoint = new RecordingEndpoint(clock.now);
  const cache = new TokenCache({ endpoint, now: clock.now, random: () => 0 });
  return { clock, endpoint, cache };
}

describe('TokenCache across a grant’s life', () => {
  it('hands the endpoint the set being refreshed, and keeps provider fields and the grant end a custom endpoint did not repeat', async () => {
    const { clock, endpoint, cache } = setup();
    const first: TokenSet = {
      accessToken: 'access-0',
      refreshToken: 'refresh-0',
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + 90 * 24 * HOUR,
      grantExpiresAt: clock.time + 90 * 24 * HOUR,
      extras: { instance_url: 'https://eu1.example.com' },
    };
    await cache.set('k', first);
    clock.advance(HOUR + 1);
    const next = await cache.getTokenSet('k');
    expect(endpoint.previous).toEqual([expect.objectContaining({ refreshToken: 'refresh-0' })]);
    expect(next.extras).toEqual({ instance_url: 'https://eu1.example.com' });
    expect(next.grantExpiresAt).toBe(first.grantExpiresAt);
    // The refresh token was rotated and the answer said nothing of its life: the grant's end still caps it.
    expect(next.refreshTokenExpiresAt).toBe(first.grantExpiresAt);
  });

  it('fails fast, without calling the endpoint, once the refresh token is known to have expired', async () => {
    const { clock, endpoint, cache } = setup();
    const dead: string[] = [];
    cache.on('reauthenticationRequired', ({ key, reason }) => dead.push(`${key}:${reason}`));
    await cache.set('k', {
      accessToken: 'access-0',
      refreshToken: 'refresh-0',
      expiresAt: clock.time + HOUR,
      refreshTokenExpiresAt: clock.time + 2 * HOUR,
    });
    clock.advance(2 * HOUR);
    const error = await cache.getAccessToken('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthenticationRequiredError);
    expect((error as ReauthenticationRequiredError).reason).toBe('refresh_token_expired');
    await expect(cache.getAccessToken('k')).rejects.toMatchObject({ reason: 'refresh_token_expired' });
    expect(endpoint.calls).toHaveLength(0);
    expect(dead).toEqual(['k:refresh_token_expired', 'k:refresh_token_expired']);
    await cache.set('k', { accessToken: 'access-new', refreshToken: 'refresh-new', expiresAt: clock.time + HOUR });
    expect(await cache.getAccessToken('k')).toBe('access-new');
  });

  it('refreshes by the provider’s refresh_in hint when it comes before the cache’s own window', async () => {
    const { clock, endpoint, cache } = setup();
    await cache.set('k', {
      accessToken: 'access-0',
      refreshToken: 'refresh-0',
      expiresAt: clock.time + 24 * HOUR,
      suggestedRefreshAt: clock.time + HOUR,
    });
    clock.advance(HOUR - 1);
    expect(await cache.getAccessToken('k')).toBe('access-0');
    expect(endpoint.calls).toHaveLength(0);
    clock.advance(1);
    expect(await cache.getAccessToken('k')).toBe('access-0'); // served at once; the refresh runs behind it
    await new Promise((resolve) => setImmediate(resolve));
    expect(endpoint.calls).toHaveLength(1);
  });
});
