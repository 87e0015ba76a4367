/** Longest key, in UTF-8 bytes: a btree index entry must fit a third of a page, and a key must fit a NOTIFY payload. */
export const MAX_KEY_BYTES = 2_048;

const LONE_SURROGATE_OR_NUL = /[\p{Cs}\0]/u;

/**
 * Rejects keys PostgreSQL `text` cannot hold exactly: lone surrogates (not
 * well-formed Unicode, so they would not survive UTF-8) and NUL, and keys
 * too long for the primary key index.
 * @throws TypeError saying what is wrong with the key (which is not secret, but is not echoed either).
 */
export function assertStorableKey(key: unknown): asserts key is string {
  if (typeof key !== 'string')
    throw new TypeError(`Expected \`key\` to be a string, got a value of type ${typeof key}`);
  if (LONE_SURROGATE_OR_NUL.test(key)) {
    throw new TypeError(
      'Expected `key` to be well-formed Unicode without NUL characters, got a key with a lone surrogate or NUL (PostgreSQL text cannot hold it)',
    );
  }
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new TypeError(
      `Expected \`key\` to be at most ${MAX_KEY_BYTES} bytes in UTF-8, got ${Buffer.byteLength(key)} bytes`,
    );
  }
}
