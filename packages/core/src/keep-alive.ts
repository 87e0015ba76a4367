import type { TokenSet } from './token-set.js';

/** The keep-alive settings a record's due time depends on. */
export interface KeepAliveSchedule {
  readonly leadMs: number;
  readonly idleMs: number | undefined;
}

/** A tenth of the refresh token's remaining life is the least lead. */
const LEAD_FRACTION = 0.1;
/** Due times are moved earlier by up to this fraction of their lead, so grants issued together are not due together. */
const DUE_JITTER = 0.1;

/**
 * When a keep-alive sweep should refresh `tokens`, issued at `issuedAt`
 * (ms epoch), or `undefined` when no sweep can help:
 *
 * - before the refresh token expires: `refreshTokenExpiresAt` minus the
 *   larger of `leadMs` and a tenth of the refresh token's life left at
 *   `issuedAt`, capped at half of it (so a short-lived refresh token is
 *   refreshed half-way, not on every sweep);
 * - after `idleMs` without a refresh, when set;
 *
 * whichever comes first, moved earlier by up to a tenth of its lead
 * (`random` in [0, 1)). A set without a refresh token, or whose refresh
 * token lives exactly as long as the grant (`grantExpiresAt`: refreshing
 * cannot extend it), is never due.
 */
export function sweepAtFor(
  tokens: TokenSet,
  issuedAt: number,
  schedule: KeepAliveSchedule,
  random: number,
): number | undefined {
  if (tokens.refreshToken === undefined) return undefined;
  const end = tokens.refreshTokenExpiresAt;
  if (end !== undefined && end === tokens.grantExpiresAt) return undefined;
  let due = Infinity;
  if (end !== undefined) {
    const left = Math.max(0, end - issuedAt);
    const lead = Math.min(Math.max(schedule.leadMs, left * LEAD_FRACTION), left / 2);
    due = end - lead - lead * DUE_JITTER * random;
  }
  if (schedule.idleMs !== undefined) {
    due = Math.min(due, issuedAt + schedule.idleMs - schedule.idleMs * DUE_JITTER * random);
  }
  return Number.isFinite(due) ? Math.floor(due) : undefined;
}
