/**
 * Encryption at rest for the shared stores (`@refreshkit/redis`,
 * `@refreshkit/postgres`): one implementation, one wire format. AES-256-GCM
 * through Web Crypto (so core stays free of `node:` imports), a 12-byte
 * random IV per write, and the record's place (its key) as associated data,
 * so a ciphertext copied to another key fails to decrypt. Sealed as
 * `{ k, i, c, g }` (key id, IV, ciphertext, tag; base64), the format both
 * stores wrote before they shared this code.
 */
import { invalid } from './validate.js';

/** One AES-256-GCM key, named so keys can rotate. */
export interface EncryptionKey {
  /** Identifier stored beside each ciphertext; pick a new one for each new key. */
  readonly id: string;
  /** 32 bytes, as a Uint8Array or a base64 (or base64url) string. */
  readonly key: Uint8Array | string;
}

/** Ciphertext of a token set as stored. */
export interface SealedTokens {
  /** Key id. */
  readonly k: string;
  /** 12-byte IV, base64. */
  readonly i: string;
  /** Ciphertext, base64. */
  readonly c: string;
  /** GCM tag, base64. */
  readonly g: string;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const standard = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = standard + '='.repeat((4 - (standard.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

function keyBytes(name: string, key: unknown): Uint8Array {
  const expected = 'exactly 32 bytes, as a Uint8Array or a base64 string';
  if (typeof key === 'string') {
    // A lenient decoder skips what is not base64: a typo would quietly make another key.
    if (!BASE64.test(key) && !BASE64URL.test(key)) throw invalid(name, expected, key, true);
    const bytes = fromBase64(key);
    if (bytes.length !== KEY_BYTES)
      throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${bytes.length} bytes`);
    return bytes;
  }
  if (key instanceof Uint8Array) {
    if (key.length !== KEY_BYTES)
      throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${key.length} bytes`);
    return Uint8Array.from(key);
  }
  throw invalid(name, expected, key, true);
}

/**
 * Checks the `encryptionKey` option of a store (one key or a list, the first
 * encrypting) and returns key id → key bytes, before the store opens
 * anything.
 *
 * @throws TypeError naming the bad entry; never showing key material.
 */
export function validateEncryptionKeys(value: unknown): ReadonlyMap<string, Uint8Array> {
  const single = !Array.isArray(value);
  const list: readonly unknown[] = single ? [value] : (value as unknown[]);
  if (list.length === 0) throw new TypeError('Expected `encryptionKey` to hold at least one key, got an empty array');
  const keys = new Map<string, Uint8Array>();
  for (const [index, entry] of list.entries()) {
    const name = single ? 'encryptionKey' : `encryptionKey[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || entry instanceof Uint8Array) {
      throw invalid(name, 'an object `{ id, key }`', entry, true);
    }
    const { id, key } = entry as Partial<EncryptionKey>;
    if (typeof id !== 'string' || id.length === 0) throw invalid(`${name}.id`, 'a non-empty string', id);
    if (keys.has(id)) throw new TypeError(`Expected \`${name}.id\` to be unique, got \`${id}\` twice`);
    keys.set(id, keyBytes(`${name}.key`, key));
  }
  return keys;
}

/**
 * Seals and opens token sets with the keys of {@link validateEncryptionKeys}:
 * the first key encrypts, every key decrypts (found by id), so old records
 * stay readable while keys rotate.
 */
export class RecordCipher {
  readonly #keys: ReadonlyMap<string, Promise<CryptoKey>>;
  readonly #current: string;
  readonly #encoder = new TextEncoder();

  /** @param keys key id → 32 key bytes, the encrypting key first. */
  constructor(keys: ReadonlyMap<string, Uint8Array>) {
    const imported = new Map<string, Promise<CryptoKey>>();
    for (const [id, bytes] of keys) {
      imported.set(id, crypto.subtle.importKey('raw', new Uint8Array(bytes), 'AES-GCM', false, ['encrypt', 'decrypt']));
    }
    this.#keys = imported;
    this.#current = keys.keys().next().value!;
  }

  /** Encrypts `plaintext`, bound to `associatedData` (the record's key). */
  async seal(plaintext: string, associatedData: string): Promise<SealedTokens> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: this.#encoder.encode(associatedData) },
        await this.#keys.get(this.#current)!,
        this.#encoder.encode(plaintext),
      ),
    );
    // Web Crypto appends the tag to the ciphertext; the stored format keeps them apart.
    return {
      k: this.#current,
      i: toBase64(iv),
      c: toBase64(sealed.subarray(0, sealed.length - TAG_BYTES)),
      g: toBase64(sealed.subarray(sealed.length - TAG_BYTES)),
    };
  }

  /**
   * Decrypts a sealed value.
   * @throws Error with a message safe to show (no key material, no plaintext).
   */
  async open(sealed: SealedTokens, associatedData: string): Promise<string> {
    const key = this.#keys.get(sealed.k);
    if (key === undefined) throw new Error(`encrypted under unknown key id \`${sealed.k}\``);
    try {
      const ciphertext = fromBase64(sealed.c);
      const tag = fromBase64(sealed.g);
      const joined = new Uint8Array(ciphertext.length + tag.length);
      joined.set(ciphertext);
      joined.set(tag, ciphertext.length);
      const plaintext = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromBase64(sealed.i), additionalData: this.#encoder.encode(associatedData) },
        await key,
        joined,
      );
      return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
    } catch {
      throw new Error(`decryption failed under key id \`${sealed.k}\` (wrong key or tampered record)`);
    }
  }
}
