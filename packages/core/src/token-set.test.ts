import { describe, expect, it } from '@jest/globals';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { MemoryStore } from './memory-store.js';
import { TokenCache } from './token-cache.js';
import { toTokenSet } from './token-set.js';

const SECRET = 'sEcReT-token-value-1234567890';

function cacheWith(): TokenCache {
  const clock = new ManualClock();
  return new TokenCache({ endpoint: new ScriptedEndpoint(clock.now), now: clock.now });
}

/** The TypeError `toTokenSet(value)` throws, checked to hold no secret. */
function rejection(value: unknown, name?: string): string {
  let message = '';
  try {
    toTokenSet(value, name);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    message = (error as Error).message;
  }
  expect(message).not.toBe('');
  expect(message).not.toContain(SECRET);
  return message;
}

describe('toTokenSet', () => {
  it.each([
    ['access_token', { access_token: SECRET }, '`tokens.access_token`: a TokenSet names it `accessToken`'],
    ['refresh_token', { accessToken: 'a', refresh_token: SECRET }, 'names it `refreshToken`'],
    ['expires_in', { accessToken: 'a', expires_in: 3600 }, 'names it `expiresAt` (ms since the epoch'],
    ['expiresIn', { accessToken: 'a', expiresIn: 3600 }, '`Date.now() + expiresIn * 1000`'],
    ['token_type', { accessToken: 'a', token_type: 'Bearer' }, 'names it `tokenType`'],
  ])('names the field meant when given the wire name %s', (_field, value, expected) => {
    expect(rejection(value)).toContain(expected);
  });

  it('refuses an expiresAt that is plainly in seconds, and says so', () => {
    const seconds = Math.floor(Date.now() / 1000) + 3600;
    expect(rejection({ accessToken: 'a', expiresAt: seconds })).toContain('this looks like seconds: multiply by 1000');
    expect(toTokenSet({ accessToken: 'a', expiresAt: seconds * 1000 }).expiresAt).toBe(seconds * 1000);
  });

  it.each([
    ['a line feed', `${SECRET}\nX-Injected: 1`],
    ['a carriage return', `${SECRET}\r`],
    ['a space', `${SECRET} more`],
    ['a NUL', `${SECRET}\0`],
    ['a non-ASCII character', `${SECRET}é`],
  ])('refuses a token with %s, without quoting it', (_what, token) => {
    expect(rejection({ accessToken: token })).toContain(
      'Expected `tokens.accessToken` to hold visible ASCII characters only',
    );
    expect(rejection({ accessToken: 'a', refreshToken: token })).toContain('`tokens.refreshToken`');
  });

  it('accepts every visible ASCII character in a token (JWTs, b64token, opaque tokens)', () => {
    const visible = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
    expect(toTokenSet({ accessToken: visible, refreshToken: visible }).accessToken).toBe(visible);
  });

  it('never quotes a string given where a token set belongs (a token, or a token set as JSON)', () => {
    expect(rejection(SECRET)).toBe('Expected `tokens` to be an object, got a value of type string');
    expect(rejection(JSON.stringify({ accessToken: SECRET }), 'load(key) result')).toContain(
      '`load(key) result` to be an object',
    );
  });
});

describe('toTokenSet: grant lifecycle fields', () => {
  const NOW = Date.UTC(2026, 0, 1);

  it('keeps extras as a deep frozen copy, so later changes by the caller do not reach the stored set', () => {
    const extras = { instance_url: 'https://eu.example.com', team: { id: 'T1' } };
    const tokens = toTokenSet({ accessToken: 'a', extras });
    extras.team.id = 'changed';
    expect(tokens.extras).toEqual({ instance_url: 'https://eu.example.com', team: { id: 'T1' } });
    expect(Object.isFrozen(tokens.extras!.team)).toBe(true);
  });

  it('refuses extras that are not JSON or too large, naming `tokens.extras` and never a value', () => {
    expect(rejection({ accessToken: 'a', extras: { id_token: SECRET, f: () => 1 } })).toContain('`tokens.extras.f`');
    expect(rejection({ accessToken: 'a', extras: { id_token: SECRET, big: 'x'.repeat(20_000) } })).toContain(
      'Expected `tokens.extras` to be at most 16384 bytes as JSON',
    );
    expect(rejection({ accessToken: 'a', extras: SECRET })).toContain('`tokens.extras`');
  });

  it.each(['refreshTokenExpiresAt', 'suggestedRefreshAt', 'grantExpiresAt'])(
    'keeps %s in ms since the epoch and refuses seconds, negatives and non-numbers',
    (field) => {
      expect(toTokenSet({ accessToken: 'a', [field]: NOW })).toMatchObject({ [field]: NOW });
      expect(rejection({ accessToken: 'a', [field]: NOW / 1000 })).toContain('this looks like seconds');
      expect(rejection({ accessToken: 'a', [field]: -1 })).toContain(`\`tokens.${field}\``);
      expect(rejection({ accessToken: 'a', [field]: Number.NaN })).toContain('a finite number of ms since the epoch');
      expect(rejection({ accessToken: 'a', [field]: '1767225600000' })).toContain(`\`tokens.${field}\``);
    },
  );

  it('drops other unknown fields, as before, so an existing load() returning an id_token column keeps working', () => {
    expect(toTokenSet({ accessToken: 'a', id_token: 'x' })).toEqual({ accessToken: 'a' });
  });

  it.each([
    ['refresh_token_expires_in', '`refreshTokenExpiresAt`'],
    ['x_refresh_token_expires_in', '`refreshTokenExpiresAt`'],
    ['refreshTokenExpiresIn', '`refreshTokenExpiresAt`'],
    ['refresh_in', '`suggestedRefreshAt`'],
  ])('names the field meant when given %s', (field, expected) => {
    expect(rejection({ accessToken: 'a', [field]: 60 })).toContain(expected);
  });
});

describe('TokenCache input checks', () => {
  it('leaves the stored tokens as they were when set() is given a bad token set', async () => {
    const cache = cacheWith();
    await cache.set('alice', { accessToken: 'good-token', refreshToken: 'good-refresh' });
    await expect(cache.set('alice', { access_token: SECRET } as never)).rejects.toThrow(TypeError);
    await expect(cache.set('alice', { accessToken: 'x', expiresAt: 1_700_000_000 })).rejects.toThrow('seconds');
    await expect(cache.getAccessToken('alice')).resolves.toBe('good-token');
  });

  it('leaves the stored tokens as they were when set() is given bad extras or lifetimes', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(clock.now), now: clock.now, store });
    const extras = { instance_url: 'https://eu.example.com', team: { id: 'T1' } };
    await cache.set('alice', { accessToken: 'good-token', refreshToken: 'good-refresh', extras });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [
      { extras: { id_token: SECRET, f: () => SECRET } },
      { extras: { id_token: SECRET, blob: 'x'.repeat(20_000) } },
      { extras: cyclic },
      { extras: SECRET },
      { refreshTokenExpiresAt: -1 },
      { refreshTokenExpiresAt: 1_700_000_000 },
      { grantExpiresAt: Infinity },
    ]) {
      const error = await cache.set('alice', { accessToken: 'x', ...bad } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).not.toContain(SECRET);
    }
    await expect(cache.getAccessToken('alice')).resolves.toBe('good-token');
    // Extras pass through set into the store whole.
    expect((await store.get('alice'))?.tokens.extras).toEqual(extras);
  });

  it('rejects keys with a lone surrogate, so two distinct keys can never share a record', async () => {
    const cache = cacheWith();
    await expect(cache.set('user-\uD800', { accessToken: 'a' })).rejects.toThrow('well-formed Unicode');
    await expect(cache.getAccessToken('user-\uDC00')).rejects.toThrow('well-formed Unicode');
    await cache.set('user-\uD83D\uDE00', { accessToken: 'emoji-user' });
    await expect(cache.getAccessToken('user-\uD83D\uDE00')).resolves.toBe('emoji-user');
  });

  it('does not echo a load() result that is a JSON string', async () => {
    const clock = new ManualClock();
    const cache = new TokenCache({
      endpoint: new ScriptedEndpoint(clock.now),
      now: clock.now,
      load: async () => JSON.stringify({ accessToken: SECRET }) as never,
    });
    const error = await cache.getAccessToken('bob').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('shows an allowed origin with credentials without them', () => {
    const clock = new ManualClock();
    const make = () =>
      new TokenCache({
        endpoint: new ScriptedEndpoint(clock.now),
        allowedOrigins: [`https://user:${SECRET}@api.example.com/?token=${SECRET}`],
      });
    expect(make).toThrow('`https://api.example.com/` with its credentials, query or fragment not shown');
    expect(make).not.toThrow(SECRET);
  });
});
