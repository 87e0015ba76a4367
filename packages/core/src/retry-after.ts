/**
 * Parses an HTTP `Retry-After` value (delay-seconds or an HTTP-date) into a
 * delay in ms from `now`. Returns undefined for absent or unparsable values.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
