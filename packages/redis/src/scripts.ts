import { createHash } from 'node:crypto';

/** A Lua script with its SHA-1, for `EVALSHA` with an `EVAL` fallback. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Compare-and-set of a record, then an announcement of its version.
 * KEYS[1] record hash; ARGV[1] expected version ('' = nothing stored);
 * ARGV[2] new version; ARGV[3] record data; ARGV[4] update channel.
 * Returns 1 when written, 0 when another writer got there first.
 */
export const COMPARE_AND_SET = script(`
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`);

/**
 * Releases a lock only if the caller still holds it (its value matches), so
 * a holder whose lock expired can never release someone else's.
 * KEYS[1] lock key; ARGV[1] the holder's value. Returns 1 when released.
 */
export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);
