/** What an `error.type` value may look like: a short identifier, never free text. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;

/**
 * The `error.type` attribute of a failure, from a bounded set: a refreshkit
 * error's stable `code` (`invalid_grant`, `token_endpoint_unavailable`, ...),
 * else the error's class name, else `_OTHER` (OpenTelemetry's fallback).
 * Never the message: messages name keys and URLs.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && IDENTIFIER.test(code)) return code;
    if (typeof name === 'string' && IDENTIFIER.test(name)) return name;
  }
  return '_OTHER';
}
