import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** One AES-256-GCM key, named so keys can rotate. */
export interface EncryptionKey {
  /** Identifier stored beside each ciphertext; pick a new one for each new key. */
  readonly id: string;
  /** 32 bytes, as a Buffer/Uint8Array or a base64 string. */
  readonly key: Uint8Array | string;
}

/** Ciphertext of a token set as stored in Redis. */
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
 * The Redis key name is the associated data: a record copied to another key
 * fails to decrypt.
 */
export class RecordCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: string;

  /** @param keys key id → 32 key bytes (validated), the encrypting key first. */
  constructor(keys: ReadonlyMap<string, Buffer>) {
    this.#keys = keys;
    this.#current = keys.keys().next().value!;
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
