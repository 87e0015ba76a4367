import { StoreUnavailableError } from './errors.js';

/**
 * Runs one operation of a shared store (`store` names it: `Redis`,
 * `PostgreSQL`), turning a slow answer or any failure into
 * `StoreUnavailableError`. Clients queue commands while they reconnect, and
 * no caller should wait on that queue for long. A client's errors carry
 * the failing command's arguments or the row's values (encoded token sets),
 * so neither the error nor its message travels further: only its class name
 * and code do.
 */
export async function storeOperation<T>(
  store: string,
  operation: string,
  timeoutMs: number,
  run: () => Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnavailableError(`${store} did not answer ${operation} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run(), timeout]);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`${store} failed on ${operation} (${describeClientError(error)})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Names a client's failure by class and code only (see {@link storeOperation}). */
export function describeClientError(error: unknown): string {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  const label = typeof name === 'string' && /^\w{1,40}$/.test(name) ? name : 'Error';
  return typeof code === 'string' && /^\w{1,20}$/.test(code) ? `${label} ${code}` : label;
}
