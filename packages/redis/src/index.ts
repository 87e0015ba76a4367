export { RedisTokenStore } from './redis-token-store.js';
export type { RedisClient, RedisTokenStoreOptions } from './redis-token-store-options.js';
export type { EncryptionKey } from '@refreshkit/core/internal';
export { CorruptRecordError, StoreUnavailableError } from '@refreshkit/core';
