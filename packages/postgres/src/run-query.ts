import { StoreUnavailableError } from '@refreshkit/core';

/**
 * Runs `query`, turning a slow answer or any failure into
 * `StoreUnavailableError`. `pg`'s errors carry the failing statement's
 * details (`detail` can quote the row's values, which hold encoded token
 * sets), so neither the error nor its message travels further: only its
 * class name and SQLSTATE or network code do.
 */
export async function runQuery<T>(operation: string, timeoutMs: number, query: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnavailableError(`PostgreSQL did not answer ${operation} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([query(), timeout]);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`PostgreSQL failed on ${operation} (${describePgError(error)})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Names a failure by class and code only (see {@link runQuery}). */
export function describePgError(error: unknown): string {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  const label = typeof name === 'string' && /^\w{1,40}$/.test(name) ? name : 'Error';
  return typeof code === 'string' && /^\w{1,20}$/.test(code) ? `${label} ${code}` : label;
}
