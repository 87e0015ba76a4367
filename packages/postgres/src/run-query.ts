import { storeOperation } from '@refreshkit/core/internal';

/**
 * Runs `query`, turning a slow answer or any failure into
 * `StoreUnavailableError`. `pg`'s errors carry the failing statement's
 * details (`detail` can quote a row's values), so only their class name and
 * SQLSTATE or network code travel further (see `storeOperation`).
 */
export function runQuery<T>(operation: string, timeoutMs: number, query: () => Promise<T>): Promise<T> {
  return storeOperation('PostgreSQL', operation, timeoutMs, query);
}
