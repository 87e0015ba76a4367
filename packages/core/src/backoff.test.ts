import { describe, expect, it } from '@jest/globals';
import { backoffDelay } from './backoff.js';

const backoff = { baseMs: 1_000, maxMs: 30_000 };

describe('backoffDelay', () => {
  it('doubles from the base per attempt and stops at the cap', () => {
    expect([1, 2, 3, 5, 6, 20].map((attempt) => backoffDelay(attempt, backoff, 'none', 0.5))).toEqual([
      1_000, 2_000, 4_000, 16_000, 30_000, 30_000,
    ]);
  });

  it('full jitter spreads over [0, delay), half jitter over [delay / 2, delay)', () => {
    expect(backoffDelay(3, backoff, 'full', 0)).toBe(0);
    expect(backoffDelay(3, backoff, 'full', 0.999)).toBeCloseTo(3_996);
    expect(backoffDelay(3, backoff, 'half', 0)).toBe(2_000);
    expect(backoffDelay(3, backoff, 'half', 0.999)).toBeCloseTo(3_998);
  });
});
