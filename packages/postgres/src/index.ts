export { PostgresTokenStore } from './postgres-token-store.js';
export type {
  PostgresPool,
  PostgresPoolClient,
  PostgresQueryResult,
  PostgresTokenStoreOptions,
} from './postgres-token-store-options.js';
export { POSTGRES_SCHEMA_SQL, postgresSchemaSql } from './schema-sql.js';
export type { EncryptionKey } from '@refreshkit/core/internal';
export { CorruptRecordError, StoreUnavailableError } from '@refreshkit/core';
