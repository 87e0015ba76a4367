import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { REDACTED, redact } from './redact.js';

/** One character of a secret, in one of the forms a server may echo it. */
function encodeCharacter(character: string, form: number): string {
  switch (form % 6) {
    case 0:
      return character;
    case 1: // JSON, as JSON.stringify writes it, with PHP's `\/`
      return JSON.stringify(character).slice(1, -1).replace(/\//g, '\\/');
    case 2: // JSON \u escapes, upper or lower case hex
      return [...Array(character.length).keys()]
        .map((i) => `\\u${character.charCodeAt(i).toString(16).padStart(4, '0')}`)
        .map((escape) => (form % 12 >= 6 ? escape.toUpperCase().replace('\\U', '\\u') : escape))
        .join('');
    case 3: // percent-encoding of every UTF-8 byte
      return [...new TextEncoder().encode(character)]
        .map((byte) => `%${byte.toString(16).padStart(2, '0')}`)
        .map((escape) => (form % 12 >= 6 ? escape.toUpperCase() : escape))
        .join('');
    case 4:
      return encodeURIComponent(character);
    default:
      return new URLSearchParams([['', character]]).toString().slice(1);
  }
}

const secret = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom('a', 'Z', '9', '/', '+', '=', '"', '\\', ' ', '%', '!'),
      fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    minLength: 4,
    maxLength: 24,
  })
  .filter((s) => s.length >= 4);

describe('redact', () => {
  it('removes a secret echoed in any mix of raw, JSON-escaped, percent- and form-encoded characters', () => {
    fc.assert(
      fc.property(
        secret,
        fc.array(fc.nat(), { minLength: 24, maxLength: 24 }),
        fc.string(),
        fc.string(),
        (value, forms, before, after) => {
          const echoed = [...value].map((character, i) => encodeCharacter(character, forms[i]!)).join('');
          const text = `${before}${echoed}${after}`;
          const result = redact(text, [value]);
          expect(result).not.toContain(echoed);
          expect(result).not.toContain(value);
          expect(result).toContain(REDACTED);
        },
      ),
      { numRuns: 800 },
    );
  });

  it('redacts JSON-stringified bodies holding the secret, whatever else they hold', () => {
    fc.assert(
      fc.property(secret, fc.string(), fc.json(), (value, name, other) => {
        const text = JSON.stringify({ [name]: `x${value}y`, other, again: [value] });
        const result = redact(text, [value]);
        expect(result).not.toContain(JSON.stringify(value).slice(1, -1));
        expect(result).not.toContain(value);
      }),
      { numRuns: 300 },
    );
  });

  it('with maxLength, gives the first maxLength characters of the whole redaction, reading only what can reach them', () => {
    fc.assert(
      fc.property(
        secret,
        fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.constant('@')), { maxLength: 60 }),
        fc.array(fc.nat()),
        fc.integer({ min: 0, max: 400 }),
        (value, parts, forms, maxLength) => {
          let form = 0;
          const text = parts
            .map((part) =>
              part === '@'
                ? [...value].map((c) => encodeCharacter(c, forms[form++ % Math.max(1, forms.length)] ?? 0)).join('')
                : part,
            )
            .join('');
          expect(redact(text, [value], maxLength)).toBe(redact(text, [value]).slice(0, maxLength));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('redacts the longer of two secrets that start alike whole, and leaves short strings alone', () => {
    expect(redact('a secret-1234-more b', ['secret-1234', 'secret-1234-more'])).toBe(`a ${REDACTED} b`);
    expect(redact('abc abc', ['abc'])).toBe('abc abc');
    expect(redact('x', [undefined])).toBe('x');
  });
});
