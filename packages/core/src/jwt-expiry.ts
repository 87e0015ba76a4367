/**
 * Reads the `exp` claim of a JWT access token, without verifying it: the
 * value only schedules a refresh, it grants nothing. Returns the expiry in
 * ms since the epoch, or undefined when the token is not a JWT with a
 * numeric `exp`, or when that `exp` lies after `latest` (a claim decades
 * away is a bug, not a lifetime to trust). An `exp` in the past is returned
 * as it is: the token is already expired.
 */
export function jwtExpiresAt(token: string, latest = Infinity): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || parts[1].length === 0) return undefined;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= 0) return undefined;
    const expiresAt = exp * 1000;
    return expiresAt <= latest ? expiresAt : undefined;
  } catch {
    return undefined;
  }
}
