import { integerOption, invalid, validateEncryptionKeys } from '@refreshkit/core/internal';
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
  readonly encryptionKeys: ReadonlyMap<string, Uint8Array> | undefined;
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
  // Strings were handled above; `describe` shows an object or array by its type only.
  throw invalid('redis', 'an ioredis client or a redis:// or rediss:// URL', value);
}

/**
 * Validates every option of `RedisTokenStore` before the store opens
 * anything, so a bad option never leaves a connection or timer behind.
 *
 * @throws TypeError naming the option; never echoing a key or a URL.
 */
export function validateStoreOptions(options: RedisTokenStoreOptions): ValidStoreOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const redis = redisOption(options.redis);
  const { prefix = 'refreshkit:' } = options;
  if (typeof prefix !== 'string') throw invalid('prefix', 'a string', prefix);
  return {
    redis,
    prefix,
    lockTtlMs: integerOption('lockTtlMs', options.lockTtlMs, 30_000, 100, 600_000),
    lockPollIntervalMs: integerOption('lockPollIntervalMs', options.lockPollIntervalMs, 250, 10, 60_000),
    operationTimeoutMs: integerOption('operationTimeoutMs', options.operationTimeoutMs, 2_000, 50, 60_000),
    localMax: integerOption('localMax', options.localMax, 10_000, 1, 2 ** 32),
    localMaxAgeMs: integerOption('localMaxAgeMs', options.localMaxAgeMs, 60_000, 100, 86_400_000),
    encryptionKeys: options.encryptionKey === undefined ? undefined : validateEncryptionKeys(options.encryptionKey),
  };
}
