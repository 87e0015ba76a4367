// To be shared with @refreshkit/redis via a core subpath: this is the same
// cipher and the same wire format as packages/redis/src/record-cipher.ts
// (AES-256-GCM, sealed as { k, i, c, g } in base64), so records stay
// readable when one copy moves into core and both stores import it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** One AES-256-GCM key, named so keys can rotate. */
export interface EncryptionKey {
  /** Identifier stored beside each ciphertext; pick a new one for each new key. */
  readonly id: string;
  /** 32 bytes, as a Buffer/Uint8Array or a base64 string. */
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

/**
 * Encrypts token sets at rest with AES-256-GCM. The first key encrypts; every
 * key decrypts, found by id, so old records stay readable during rotation.
 * The caller's associated data (the record's key) binds each ciphertext to
 * its place: a record copied to another key fails to decrypt.
 */
export class RecordCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: string;

  /** @throws TypeError naming the bad entry of `encryptionKey`. */
  constructor(keys: readonly EncryptionKey[]) {
    const map = new Map<string, Buffer>();
    for (const [index, entry] of keys.entries()) {
      const { id, key } = (entry ?? {}) as Partial<EncryptionKey>;
      if (typeof id !== 'string' || id.length === 0) {
        throw new TypeError(`Expected \`encryptionKey[${index}].id\` to be a non-empty string, got \`${String(id)}\``);
      }
      if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
        throw new TypeError(
          `Expected \`encryptionKey[${index}].key\` to be 32 bytes or their base64, got a value of type ${typeof key}`,
        );
      }
      const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key);
      if (bytes.length !== 32) {
        throw new TypeError(`Expected \`encryptionKey[${index}].key\` to be 32 bytes, got ${bytes.length} bytes`);
      }
      map.set(id, bytes);
    }
    if (map.size === 0) throw new TypeError('Expected `encryptionKey` to hold at least one key');
    this.#keys = map;
    this.#current = keys[0]!.id;
  }

  /** Encrypts `plaintext`, bound to `associatedData`. */
  seal(plaintext: string, associatedData: string): SealedTokens {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#current)!, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      k: this.#current,
      i: iv.toString('base64'),
      c: ciphertext.toString('base64'),
      g: cipher.getAuthTag().toString('base64'),
    };
  }

  /**
   * Decrypts a sealed value.
   * @throws Error with a message safe to show (no key material, no plaintext).
   */
  open(sealed: SealedTokens, associatedData: string): string {
    const key = this.#keys.get(sealed.k);
    if (key === undefined) throw new Error(`encrypted under unknown key id \`${sealed.k}\``);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.i, 'base64'));
      decipher.setAAD(Buffer.from(associatedData));
      decipher.setAuthTag(Buffer.from(sealed.g, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.c, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`decryption failed under key id \`${sealed.k}\` (wrong key or tampered record)`);
    }
  }
}
