export { RedisTokenStore } from './redis-token-store.js';
export type { RedisClient, RedisTokenStoreOptions } from './redis-token-store-options.js';
export type { EncryptionKey } from './record-cipher.js';
export { CorruptRecordError, StoreUnavailableError } from '@refreshkit/core';
