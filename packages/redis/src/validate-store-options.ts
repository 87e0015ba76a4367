import { integerOption } from '@refreshkit/core/internal';
import type { EncryptionKey } from './record-cipher.js';
import type { RedisClient, RedisTokenStoreOptions } from './redis-token-store-options.js';

/** Options after validation, with defaults filled in and keys decoded. */
export interface ValidStoreOptions {
  /** A client the caller owns, or a URL the store connects to itself. */
  readonly redis: RedisClient | string;
  readonly prefix: string;
  readonly lockTtlMs: number;
  readonly lockPollIntervalMs: number;
  readonly operationTimeoutMs: number;
  readonly localMax: number;
  readonly localMaxAgeMs: number;
  /** Key id → 32 key bytes, the encrypting key first; undefined without encryption. */
  readonly encryptionKeys: ReadonlyMap<string, Buffer> | undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A value's kind for an error message: never the value itself, which may be key material. */
function kind(value: unknown): string {
  if (value === null) return '`null`';
  if (Array.isArray(value)) return 'an array';
  return `\`${typeof value}\``;
}

function isRedisClient(value: unknown): value is RedisClient {
  const client = value as Partial<RedisClient> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.evalsha === 'function' &&
    typeof client.hmget === 'function' &&
    typeof client.duplicate === 'function'
  );
}

function redisOption(value: unknown): RedisClient | string {
  if (typeof value === 'string') {
    // The URL may hold a password: say what is wrong, never what it is.
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw new TypeError(
        'Expected `redis` to be an ioredis client or a redis:// or rediss:// URL, got another string',
      );
    }
    return value;
  }
  if (isRedisClient(value)) return value;
  throw new TypeError(`Expected \`redis\` to be an ioredis client or a redis:// or rediss:// URL, got ${kind(value)}`);
}

function keyBytes(name: string, key: unknown): Buffer {
  const expected = `Expected \`${name}\` to be 32 bytes, as a Uint8Array or a base64 string`;
  let bytes: Buffer;
  if (typeof key === 'string') {
    // Buffer.from(…, 'base64') skips what is not base64: a typo would quietly make another key.
    if (!BASE64.test(key) && !BASE64URL.test(key)) throw new TypeError(`${expected}, got a string that is not base64`);
    bytes = Buffer.from(key, BASE64.test(key) ? 'base64' : 'base64url');
  } else if (key instanceof Uint8Array) {
    bytes = Buffer.from(key);
  } else {
    throw new TypeError(`${expected}, got ${kind(key)}`);
  }
  if (bytes.length !== 32) throw new TypeError(`${expected}, got ${bytes.length} bytes`);
  return bytes;
}

function encryptionKeysOption(value: unknown): ReadonlyMap<string, Buffer> | undefined {
  if (value === undefined) return undefined;
  const single = !Array.isArray(value);
  const list: readonly unknown[] = single ? [value] : (value as unknown[]);
  if (list.length === 0) throw new TypeError('Expected `encryptionKey` to hold at least one key, got an empty array');
  const keys = new Map<string, Buffer>();
  for (const [index, entry] of list.entries()) {
    const name = single ? 'encryptionKey' : `encryptionKey[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || entry instanceof Uint8Array) {
      throw new TypeError(`Expected \`${name}\` to be an object { id, key }, got ${kind(entry)}`);
    }
    const { id, key } = entry as Partial<EncryptionKey>;
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError(
        `Expected \`${name}.id\` to be a non-empty string, got ${id === '' ? 'an empty string' : kind(id)}`,
      );
    }
    if (keys.has(id)) throw new TypeError(`Expected \`${name}.id\` to be unique, got \`${id}\` twice`);
    keys.set(id, keyBytes(`${name}.key`, key));
  }
  return keys;
}

/**
 * Validates every option of `RedisTokenStore` before the store opens
 * anything, so a bad option never leaves a connection or timer behind.
 *
 * @throws TypeError naming the option; never echoing a key or a URL.
 */
export function validateStoreOptions(options: RedisTokenStoreOptions): ValidStoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${kind(options)}`);
  }
  const redis = redisOption(options.redis);
  const { prefix = 'refreshkit:' } = options;
  if (typeof prefix !== 'string') throw new TypeError(`Expected \`prefix\` to be a string, got ${kind(prefix)}`);
  return {
    redis,
    prefix,
    lockTtlMs: integerOption('lockTtlMs', options.lockTtlMs, 30_000, 100, 600_000),
    lockPollIntervalMs: integerOption('lockPollIntervalMs', options.lockPollIntervalMs, 250, 10, 60_000),
    operationTimeoutMs: integerOption('operationTimeoutMs', options.operationTimeoutMs, 2_000, 50, 60_000),
    localMax: integerOption('localMax', options.localMax, 10_000, 1, 2 ** 32),
    localMaxAgeMs: integerOption('localMaxAgeMs', options.localMaxAgeMs, 60_000, 100, 86_400_000),
    encryptionKeys: encryptionKeysOption(options.encryptionKey),
  };
}
