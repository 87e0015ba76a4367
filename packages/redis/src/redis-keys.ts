/**
 * Redis key names for one cache key. The `{…}` hash tag puts a record, its
 * lock and its update channel in one Redis Cluster slot, so the Lua
 * scripts that touch them together are cluster-safe.
 */
export interface RecordKeys {
  /** Hash holding `v` (version) and `d` (record data). */
  readonly record: string;
  /** `SET NX PX` refresh lock. */
  readonly lock: string;
  /** Pub/sub channel announcing a new record version. */
  readonly channel: string;
}

/** The names of `key`'s record, lock and channel under `prefix`. */
export function recordKeys(prefix: string, key: string): RecordKeys {
  const base = `${prefix}{${key}}`;
  return { record: base, lock: `${base}:lock`, channel: `${base}:updated` };
}
