import { storeOperation } from '@refreshkit/core/internal';

/**
 * Runs a Redis command, turning a slow answer or a connection failure into
 * `StoreUnavailableError` (ioredis queues commands while reconnecting, and
 * its errors carry the command's arguments: see `storeOperation`).
 */
export function withTimeout<T>(operation: string, timeoutMs: number, command: () => Promise<T>): Promise<T> {
  return storeOperation('Redis', operation, timeoutMs, command);
}
