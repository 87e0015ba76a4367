import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
} from './errors.js';
import { interpretTokenResponse } from './token-response.js';

const context = { sentAt: 1_000_000, defaultExpiresInMs: undefined, secrets: ['SENTINEL-SECRET'] };
const typedErrors = [
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
];

const tokenLikeBody = fc.record(
  {
    access_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    accessToken: fc.oneof(fc.string(), fc.constant(undefined)),
    token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'mac', 'DPoP'), fc.integer()),
    expires_in: fc.oneof(fc.integer({ min: -10, max: 1e9 }), fc.string(), fc.double(), fc.constant(null)),
    refresh_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    scope: fc.oneof(fc.string(), fc.array(fc.string()), fc.integer()),
    error: fc.constantFrom('invalid_grant', 'invalid_client', 'server_error', 'weird'),
  },
  { requiredKeys: [] },
);

describe('token response parser (property-based)', () => {
  it('turns any answer into a TokenSet or a typed error, never a crash or a partial result', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.oneof(
          fc.json(),
          fc.string(),
          tokenLikeBody.map((b) => JSON.stringify(b)),
        ),
        (status, text) => {
          const outcome = interpretTokenResponse(
            { status, contentType: 'application/json', text, retryAfterMs: undefined },
            context,
          );
          if ('tokens' in outcome) {
            expect(status >= 200 && status < 300).toBe(true);
            const { tokens } = outcome;
            expect(typeof tokens.accessToken).toBe('string');
            expect(tokens.accessToken.length).toBeGreaterThan(0);
            expect(Object.isFrozen(tokens)).toBe(true);
            if (tokens.expiresAt !== undefined) expect(Number.isFinite(tokens.expiresAt)).toBe(true);
            if (tokens.refreshToken !== undefined) expect(typeof tokens.refreshToken).toBe('string');
            expect(tokens.tokenType).toBe('bearer');
          } else {
            expect(typedErrors.some((type) => outcome.error instanceof type)).toBe(true);
            expect(outcome.error.message).not.toContain('SENTINEL-SECRET');
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('marks only 408, 429 and 5xx answers as transient', () => {
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 599 }), (status) => {
        const outcome = interpretTokenResponse(
          { status, contentType: 'application/json', text: '{"error":"x"}', retryAfterMs: undefined },
          context,
        );
        expect('error' in outcome && outcome.transient).toBe(status === 408 || status === 429 || status >= 500);
      }),
    );
  });
});
