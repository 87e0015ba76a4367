import { StoreUnavailableError } from '@refreshkit/core';

/**
 * Runs a Redis command, turning a slow answer or a connection failure into
 * `StoreUnavailableError`: ioredis queues commands while reconnecting, and
 * no caller should wait on that queue for long.
 */
export async function withTimeout<T>(operation: string, timeoutMs: number, command: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnavailableError(`Redis did not answer ${operation} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([command(), timeout]);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`Redis failed on ${operation} (${describeRedisError(error)})`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Names a Redis failure without its details: ioredis errors carry the
 * command's arguments (`error.command.args`), which hold encoded token sets,
 * so neither the error nor its message may travel further.
 */
function describeRedisError(error: unknown): string {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  const label = typeof name === 'string' ? name : 'Error';
  return typeof code === 'string' ? `${label} ${code}` : label;
}
