import type { TokenRecord } from './token-store.js';

/**
 * Where a record made by the cache keeps its access token as a settled
 * promise, made once with the record, so that a cache hit allocates nothing.
 * A symbol key, so that a store that serialises records never writes it; a
 * record read back without it is served through `Promise.resolve`. It is an
 * ordinary own property, not a non-enumerable one: that would move it out of
 * the object and cost about 40 more bytes a key.
 */
export const SETTLED_TOKEN = Symbol('settled access token');

/** A record as the cache makes it. */
export type ServedRecord = TokenRecord & { readonly [SETTLED_TOKEN]?: Promise<string> };

/** The access token of a usable record, as a promise. */
export function settledToken(record: ServedRecord): Promise<string> {
  return record[SETTLED_TOKEN] ?? Promise.resolve(record.tokens.accessToken);
}

/**
 * The next version of `record`, unusable at once: every caller must wait for
 * a refresh (invalidated), or, when `dead`, re-authenticate.
 */
export function unusable(record: TokenRecord, dead = false): TokenRecord {
  return {
    ...record,
    version: record.version + 1,
    refreshAt: 0,
    usableUntil: 0,
    ...(dead && { reauthenticationRequired: true }),
  };
}
