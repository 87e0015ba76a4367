import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { withGrantLifecycle } from './refresh-token-lifetime.js';
import type { TokenSet } from './token-set.js';

const T0 = Date.UTC(2026, 0, 1);
const YEAR = 365 * 86_400_000;
const epoch = fc.option(fc.integer({ min: T0, max: T0 + 10 * YEAR }), { nil: undefined });
const lifetime = fc.option(fc.integer({ min: 1_000, max: 10 * YEAR }), { nil: undefined });

const defined = <T>(entries: Record<string, T | undefined>) =>
  Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));

describe('withGrantLifecycle (property-based)', () => {
  it('never lets refreshTokenExpiresAt pass the grant end, never invents a grant end on refresh, and keeps what the server stated when nothing caps it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('authorization_code' as const, 'refresh_token' as const),
        fc.integer({ min: T0, max: T0 + YEAR }),
        epoch,
        fc.boolean(),
        fc.record({ refreshTokenExpiresAt: epoch, grantExpiresAt: epoch }),
        fc.record({ idleMs: lifetime, absoluteMs: lifetime }),
        (grantType, sentAt, stated, rotated, previousTimes, configured) => {
          const tokens: TokenSet = {
            accessToken: 'a',
            ...(rotated && { refreshToken: 'r2' }),
            ...defined({ refreshTokenExpiresAt: stated }),
          };
          const previous: TokenSet = { accessToken: 'old', refreshToken: 'r1', ...defined(previousTimes) };
          const result = withGrantLifecycle(tokens, {
            grantType,
            sentAt,
            previous: grantType === 'refresh_token' ? previous : undefined,
            lifetime: defined(configured),
          });
          const grantEnd =
            grantType === 'authorization_code'
              ? configured.absoluteMs === undefined
                ? undefined
                : sentAt + configured.absoluteMs
              : previousTimes.grantExpiresAt;
          expect(result.grantExpiresAt).toBe(grantEnd);
          if (grantEnd !== undefined) expect(result.refreshTokenExpiresAt).toBeLessThanOrEqual(grantEnd);
          if (stated !== undefined) {
            expect(result.refreshTokenExpiresAt).toBe(grantEnd === undefined ? stated : Math.min(stated, grantEnd));
          }
          expect(Object.isFrozen(result)).toBe(true);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('leaves client-credentials sets as they are', () => {
    const tokens = Object.freeze({ accessToken: 'a' });
    expect(
      withGrantLifecycle(tokens, {
        grantType: 'client_credentials',
        sentAt: T0,
        previous: undefined,
        lifetime: { idleMs: 1_000, absoluteMs: 1_000 },
      }),
    ).toBe(tokens);
  });
});
