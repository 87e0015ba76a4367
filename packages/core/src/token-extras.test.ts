import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { credentialValuesIn, extrasFromResponse, MAX_EXTRAS_BYTES, toExtras } from './token-extras.js';

const SECRET = 'id-token-SENTINEL-4b1d';

/** The TypeError `toExtras(value)` throws, checked to hold no value. */
function rejection(value: unknown): string {
  let message = '';
  try {
    toExtras(value, 'tokens.extras');
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    message = (error as Error).message;
  }
  expect(message).toContain('`tokens.extras');
  expect(message).not.toContain(SECRET);
  return message;
}

const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

describe('toExtras', () => {
  it('keeps any JSON object within the size limit, as a deep frozen copy equal to it', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        // fast-check's jsonValue yields -0, which JSON writes as 0; compare through JSON.
        const json = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
        if (bytesOf(json) > MAX_EXTRAS_BYTES) return;
        const copy = toExtras(json, 'tokens.extras');
        expect(JSON.stringify(copy)).toBe(JSON.stringify(json));
        expect(Object.isFrozen(copy)).toBe(true);
        if (Object.keys(json).length > 0) expect(copy).not.toBe(json);
      }),
    );
  });

  it('refuses anything JSON cannot carry faithfully, naming the path and never the value', () => {
    const cyclic: Record<string, unknown> = { id_token: SECRET };
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [{ f: () => SECRET }, '`tokens.extras.f`'],
      [{ n: 10n }, '`tokens.extras.n`'],
      [{ n: Number.NaN }, '`tokens.extras.n`'],
      [{ n: Infinity }, '`tokens.extras.n`'],
      [{ u: undefined }, '`tokens.extras.u`'],
      [{ d: new Date() }, '`tokens.extras.d`'],
      [{ m: new Map([[SECRET, SECRET]]) }, '`tokens.extras.m`'],
      [{ a: [1, { s: Symbol(SECRET) }] }, '`tokens.extras.a[1].s`'],
      [cyclic, '`tokens.extras.self`'],
    ];
    for (const [value, path] of cases) {
      const message = rejection(value);
      expect(message).toContain(path);
      expect(message).toContain('JSON');
    }
  });

  it('refuses a value that is not an object, without quoting a string', () => {
    expect(rejection(SECRET)).toContain('Expected `tokens.extras` to be a plain object');
    expect(rejection([1, 2])).toContain('got `array`');
  });

  it('refuses extras larger than the limit and says how to fix it', () => {
    const message = rejection({ id_token: SECRET, blob: 'x'.repeat(MAX_EXTRAS_BYTES) });
    expect(message).toContain(`at most ${MAX_EXTRAS_BYTES} bytes`);
    expect(message).toContain('keep only the fields the app needs');
  });

  it('refuses more values than could fit before serialising them, naming the extras', () => {
    expect(rejection({ list: Array.from({ length: MAX_EXTRAS_BYTES + 1 }, () => 0) })).toContain(
      'Expected `tokens.extras` to be at most',
    );
  });

  it('refuses nesting deeper than the limit instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(rejection({ deep })).toContain('nested deeper than');
  });

  it('refuses an object with a prototype other than Object.prototype or null', () => {
    class Team {
      id = 'T1';
    }
    expect(rejection({ team: new Team() })).toContain('`tokens.extras.team`');
  });

  it('copies a __proto__ key as data, never as a prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const copy = toExtras(value, 'tokens.extras');
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"polluted":true}}');
  });
});

describe('extrasFromResponse', () => {
  it('keeps every field the parser does not consume, wire names as sent', () => {
    const extras = extrasFromResponse(
      {
        access_token: 'a',
        refresh_token: 'r',
        expires_in: 60,
        token_type: 'Bearer',
        scope: 'x',
        refresh_token_expires_in: 90,
        instance_url: 'https://eu.example.my.salesforce.com',
        id_token: SECRET,
        authed_user: { id: 'U1', access_token: SECRET },
      },
      new Set(['access_token', 'refresh_token', 'expires_in', 'token_type', 'scope', 'refresh_token_expires_in']),
    );
    expect(extras).toEqual({
      instance_url: 'https://eu.example.my.salesforce.com',
      id_token: SECRET,
      authed_user: { id: 'U1', access_token: SECRET },
    });
  });

  it('returns undefined when nothing is left', () => {
    expect(extrasFromResponse({ access_token: 'a' }, new Set(['access_token']))).toBeUndefined();
  });

  it('drops the fields that do not fit the limit, keeping the others in order, never failing', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 8 }),
        fc.nat(3 * MAX_EXTRAS_BYTES),
        (fields, pad) => {
          const body = JSON.parse(JSON.stringify({ ...fields, padding: 'p'.repeat(pad) })) as Record<string, unknown>;
          const extras = extrasFromResponse(body, new Set());
          const kept = extras ?? {};
          expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_EXTRAS_BYTES);
          for (const [name, value] of Object.entries(kept))
            expect(JSON.stringify(value)).toBe(JSON.stringify(body[name]));
          // Whatever was dropped could not have fitted on its own beside what came before it.
          expect(() => toExtras(kept, 'extras')).not.toThrow();
        },
      ),
    );
    const extras = extrasFromResponse(
      { instance_url: 'https://x.example', big: 'b'.repeat(MAX_EXTRAS_BYTES), team: { id: 'T' } },
      new Set(),
    );
    expect(extras).toEqual({ instance_url: 'https://x.example', team: { id: 'T' } });
  });
});

describe('credentialValuesIn', () => {
  it('finds string values under token-, secret-, password-, assertion- and code-like names at any depth', () => {
    const values = credentialValuesIn({
      id_token: 'v1',
      idToken: 'v2',
      instance_url: 'not-a-secret',
      authed_user: { access_token: 'v3', id: 'U1' },
      nested: [{ client_secret: 'v4' }, { password: 'v5' }, { client_assertion: 'v6' }, { code: 'v7' }],
      bot: { botAccessToken: 'v8', signature: 'v9', api_key: 'v10' },
      team: { name: 'Acme' },
    });
    expect(new Set(values)).toEqual(new Set(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9', 'v10']));
  });
});
