import { createHash } from 'node:crypto';

/** A Lua script with its SHA-1, for `EVALSHA` with an `EVAL` fallback. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// Every script returns integers, never Lua booleans: over RESP3 (ioredis 6's
// default) a Lua `false` arrives as a boolean that ioredis maps to 0, over
// RESP2 (ioredis 5) as null.

/**
 * Compare-and-set of a record, then an announcement of the write's id.
 * The stored version is compared as a string with a canonical one, so a
 * tampered version (`01`, `1e0`, ` 1`) never equals an expected version: it
 * is read as corrupt, and only a delete clears it.
 * KEYS[1] record hash; ARGV[1] expected version ('' = no version stored);
 * ARGV[2] new version; ARGV[3] record data; ARGV[4] write id; ARGV[5] update channel;
 * KEYS[2] (optional) the keep-alive index, a sorted set of cache keys scored
 * by their record's `sweepAt`; ARGV[6] the score ('' = not due: removed);
 * ARGV[7] the cache key. In one script, so the index never disagrees with a
 * record it lists (except on Redis Cluster, where the index lives in another
 * slot and is written right after).
 * Returns 1 when written, 0 when another writer got there first.
 */
export const COMPARE_AND_SET = script(`
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'w', ARGV[4])
if KEYS[2] then
  if ARGV[6] == '' then
    redis.call('ZREM', KEYS[2], ARGV[7])
  else
    redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 1
`);

/**
 * Deletes a record (of any type: a tampered key may not be a hash) and
 * announces it, so every process drops its local copy.
 * KEYS[1] record; ARGV[1] update channel; ARGV[2] the delete's id;
 * KEYS[2] (optional) the keep-alive index; ARGV[3] the cache key.
 */
export const DELETE_RECORD = script(`
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[3]) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

/**
 * Takes a lock if nobody holds it, and says whether it was taken over: the
 * companion "held by" key (no TTL) is set on every take and deleted only by
 * a release, so finding one means the previous holder's lease ran out
 * without being released (it crashed, or lost Redis while refreshing).
 * KEYS[1] lock key; KEYS[2] its "held by" key; ARGV[1] the holder's id;
 * ARGV[2] lifetime in ms.
 * Returns 1 when taken, 2 when taken over, 0 when another holder has it.
 */
export const TAKE_LOCK = script(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local previous = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1])
if previous then return 2 end
return 1
`);

/**
 * Extends a lock's lifetime only if the caller still holds it.
 * KEYS[1] lock key; ARGV[1] the holder's id; ARGV[2] lifetime in ms.
 * Returns 1 when extended, 0 when another holder has it (or nobody).
 */
export const EXTEND_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/**
 * Releases a lock only if the caller still holds it (its value matches), so
 * a holder whose lock expired can never release someone else's (nor clear
 * the "held by" key that tells the next taker about the lapse). Announces
 * the release on the record's channel, so waiters in other processes try
 * again at once; the message is one no write id can be, so nobody drops its
 * local copy for it (nothing was written).
 * KEYS[1] lock key; KEYS[2] its "held by" key; ARGV[1] the holder's id;
 * ARGV[2] update channel; ARGV[3] the release message; ARGV[4] '1' to keep
 * the "held by" key (undoing a take that timed out: whether it took over
 * from a lapsed lease is unknown, so the next taker must assume it did).
 * Returns 1 when released.
 */
export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[4] ~= '1' then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`);
