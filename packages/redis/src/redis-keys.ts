import { assertKey } from '@refreshkit/core/internal';

/**
 * Redis key names for one cache key. The `{…}` hash tag puts a record, its
 * lock and its update channel in one Redis Cluster slot, so the Lua
 * scripts that touch them together are cluster-safe.
 */
export interface RecordKeys {
  /** Hash holding `v` (version), `d` (record data) and `w` (the write's id). */
  readonly record: string;
  /** The refresh lock: a string holding its holder's id, with a TTL. */
  readonly lock: string;
  /**
   * The lock's last holder, without a TTL: set on every take, deleted on
   * release, so a taker that finds it knows the previous lease ran out unreleased.
   */
  readonly heldBy: string;
  /** Pub/sub channel announcing every write and delete of the record. */
  readonly channel: string;
}

const CHANNEL_SUFFIX = '}:updated';

/**
 * The names of `key`'s record, lock and channel under `prefix`.
 *
 * @throws TypeError when `key` is not a valid cache key, or not well-formed Unicode: Redis keys are
 * UTF-8, where every lone surrogate becomes U+FFFD, so two such keys would
 * share one record (one user reading another's tokens).
 */
export function recordKeys(prefix: string, key: string): RecordKeys {
  assertKey(key);
  const base = `${prefix}{${key}}`;
  return {
    record: base,
    lock: `${base}:lock`,
    heldBy: `${base}:held-by`,
    channel: `${base}${CHANNEL_SUFFIX.slice(1)}`,
  };
}

/** The `PSUBSCRIBE` pattern matching the channel of every key under `prefix`. */
export function channelPattern(prefix: string): string {
  return `${prefix.replace(/[\\*?[\]]/g, '\\$&')}{*${CHANNEL_SUFFIX}`;
}

/** The cache key whose channel is `channel` (a channel matching {@link channelPattern}). */
export function keyOfChannel(prefix: string, channel: string): string {
  return channel.slice(prefix.length + 1, -CHANNEL_SUFFIX.length);
}

/**
 * The keep-alive index under `prefix`: a sorted set of cache keys scored by
 * their record's `sweepAt`. Its name has no `{`, so no cache key's record
 * (always `prefix{key}`) can share it.
 */
export function sweepIndexKey(prefix: string): string {
  return `${prefix}keep-alive-due`;
}
