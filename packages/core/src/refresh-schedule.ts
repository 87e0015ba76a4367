/**
 * When to refresh a token set: the refresh window, capped at half the
 * token's lifetime, with per-record jitter so keys issued together do not
 * all come due in the same instant.
 */

/** Inputs of {@link refreshAtFor}. */
export interface ScheduleInput {
  /** Expiry of the access token (ms epoch); undefined when unknown. */
  readonly expiresAt: number | undefined;
  /** When the token's lifetime started (ms epoch): the request's send time, or now for tokens handed to `set`. */
  readonly issuedAt: number;
  /** Configured window before expiry in which to refresh. */
  readonly refreshWindowMs: number;
  /** Fraction (0..1) of the window by which the start is randomly delayed. */
  readonly jitter: number;
  /** A number in [0, 1). */
  readonly random: number;
}

/**
 * Returns the time (ms epoch) from which a background refresh should start.
 *
 * The window actually used lies in `[w * (1 - jitter), w]` where
 * `w = min(refreshWindowMs, lifetime / 2)`: jitter only ever shortens the
 * window, so the half-lifetime cap always holds.
 */
export function refreshAtFor(input: ScheduleInput): number {
  const { expiresAt } = input;
  if (expiresAt === undefined) return Infinity;
  const lifetime = Math.max(0, expiresAt - input.issuedAt);
  const window = Math.min(input.refreshWindowMs, lifetime / 2);
  return expiresAt - window * (1 - input.jitter * input.random);
}
