import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { RecordCipher, validateEncryptionKeys } from './record-cipher.js';

const KEY = randomBytes(32);
const keys = validateEncryptionKeys({ id: 'k1', key: KEY.toString('base64') });

describe('RecordCipher', () => {
  it('round-trips, and binds each ciphertext to its associated data', async () => {
    const cipher = new RecordCipher(keys);
    const sealed = await cipher.seal('{"accessToken":"SECRET-é"}', 'user-1');
    expect(JSON.stringify(sealed)).not.toContain('SECRET');
    expect(await cipher.open(sealed, 'user-1')).toBe('{"accessToken":"SECRET-é"}');
    await expect(cipher.open(sealed, 'user-2')).rejects.toThrow('decryption failed under key id `k1`');
    await expect(cipher.open({ ...sealed, g: sealed.c }, 'user-1')).rejects.toThrow('wrong key or tampered record');
  });

  it('writes the format the stores wrote with node:crypto, and reads theirs', async () => {
    const cipher = new RecordCipher(keys);
    const sealed = await cipher.seal('plain', 'aad');
    const decipher = createDecipheriv('aes-256-gcm', KEY, Buffer.from(sealed.i, 'base64'));
    decipher.setAAD(Buffer.from('aad'));
    decipher.setAuthTag(Buffer.from(sealed.g, 'base64'));
    expect(Buffer.concat([decipher.update(Buffer.from(sealed.c, 'base64')), decipher.final()]).toString()).toBe(
      'plain',
    );

    const iv = randomBytes(12);
    const legacy = createCipheriv('aes-256-gcm', KEY, iv);
    legacy.setAAD(Buffer.from('aad'));
    const c = Buffer.concat([legacy.update('old record', 'utf8'), legacy.final()]);
    const old = {
      k: 'k1',
      i: iv.toString('base64'),
      c: c.toString('base64'),
      g: legacy.getAuthTag().toString('base64'),
    };
    expect(await cipher.open(old, 'aad')).toBe('old record');
  });

  it('encrypts with the first key and decrypts with any, for rotation', async () => {
    const older = validateEncryptionKeys({ id: 'old', key: randomBytes(32) });
    const sealedOld = await new RecordCipher(older).seal('x', 'k');
    const both = new RecordCipher(
      validateEncryptionKeys([
        { id: 'new', key: randomBytes(32) },
        { id: 'old', key: older.get('old')! },
      ]),
    );
    expect(await both.open(sealedOld, 'k')).toBe('x');
    expect((await both.seal('y', 'k')).k).toBe('new');
    await expect(new RecordCipher(keys).open(sealedOld, 'k')).rejects.toThrow('unknown key id `old`');
  });
});

describe('validateEncryptionKeys', () => {
  const material = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=';
  it.each<[string, unknown, string]>([
    ['an unset key', { id: 'a', key: undefined }, 'Expected `encryptionKey.key` to be exactly 32 bytes'],
    ['a short key', { id: 'a', key: randomBytes(16) }, 'got 16 bytes'],
    ['not base64', { id: 'a', key: `${material}!` }, 'a base64 string, got a value of type string'],
    ['no id', { key: material }, 'Expected `encryptionKey.id` to be a non-empty string'],
    [
      'a duplicate id',
      [
        { id: 'a', key: material },
        { id: 'a', key: material },
      ],
      '`encryptionKey[1].id` to be unique',
    ],
    ['an empty list', [], 'at least one key'],
    ['a string', material, 'Expected `encryptionKey` to be an object `{ id, key }`, got a value of type string'],
  ])('refuses %s without showing key material', (_name, value, expected) => {
    let message = '';
    try {
      validateEncryptionKeys(value);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(expected);
    expect(message).not.toContain(material.slice(0, 12));
  });
});
