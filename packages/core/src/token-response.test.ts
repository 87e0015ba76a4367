import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
} from './errors.js';
import { interpretTokenResponse } from './token-response.js';

const context = {
  sentAt: 1_000_000,
  defaultExpiresInMs: undefined,
  secrets: ['SENTINEL-SECRET'],
  endpoint: 'https://idp.example.com/token',
};
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

describe('token response parser: tokens that could not travel as headers never get through', () => {
  const piece = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    fc.string({
      unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 40,
    }),
    fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
  );
  /** A token around a marker, so a message that quoted it would show the marker. */
  const anyToken = fc.tuple(piece, piece).map(([head, tail]) => `${head}SENTINEL${tail}`);

  it('accepts an access token only if fetch would send it unchanged as a Bearer header, and never quotes a refused one', () => {
    fc.assert(
      fc.property(anyToken, anyToken, (accessToken, refreshToken) => {
        const text = JSON.stringify({ access_token: accessToken, refresh_token: refreshToken, expires_in: 60 });
        const outcome = interpretTokenResponse(
          { status: 200, contentType: 'application/json', text, retryAfterMs: undefined },
          context,
        );
        if ('tokens' in outcome) {
          for (const token of [outcome.tokens.accessToken, outcome.tokens.refreshToken!]) {
            expect(new Headers({ authorization: `Bearer ${token}` }).get('authorization')).toBe(`Bearer ${token}`);
          }
        } else {
          expect(outcome.error).toBeInstanceOf(InvalidTokenResponseError);
          expect(outcome.error.message).not.toContain('SENTINEL');
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('never lets an expires_in or JWT exp make expiresAt non-finite or more than ten years away', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant('1e400')), (expiresIn) => {
        const value = expiresIn === '1e400' ? '1e400' : JSON.stringify(expiresIn);
        const text = `{"access_token":"a","refresh_token":"r","expires_in":${value ?? 'null'}}`;
        const outcome = interpretTokenResponse(
          { status: 200, contentType: 'application/json', text, retryAfterMs: undefined },
          context,
        );
        if (!('tokens' in outcome)) throw outcome.error;
        expect(outcome.tokens.refreshToken).toBe('r');
        if (outcome.tokens.expiresAt !== undefined) {
          expect(outcome.tokens.expiresAt).toBeGreaterThanOrEqual(context.sentAt);
          expect(outcome.tokens.expiresAt).toBeLessThanOrEqual(context.sentAt + 10 * 365 * 86_400_000);
        }
      }),
      { numRuns: 500 },
    );
  });
});
