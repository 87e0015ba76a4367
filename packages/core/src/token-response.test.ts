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

describe('token response parser: grant lifecycle fields', () => {
  const ok = (body: Record<string, unknown>) => {
    const outcome = interpretTokenResponse(
      { status: 200, contentType: 'application/json', text: JSON.stringify(body), retryAfterMs: undefined },
      context,
    );
    if (!('tokens' in outcome)) throw outcome.error;
    return outcome.tokens;
  };
  const DAY_S = 86_400;

  it.each([
    'refresh_token_expires_in',
    'x_refresh_token_expires_in',
    'refresh_expires_in',
    'refreshTokenExpiresIn',
    'xRefreshTokenExpiresIn',
    'refreshExpiresIn',
  ])('reads %s (seconds) into refreshTokenExpiresAt, counted from the send time less a second', (field) => {
    const tokens = ok({ access_token: 'a', refresh_token: 'r', [field]: 90 * DAY_S });
    expect(tokens.refreshTokenExpiresAt).toBe(context.sentAt + 90 * DAY_S * 1000 - 1000);
    expect(tokens.extras).toBeUndefined();
  });

  it('takes the earliest when several spellings disagree, and accepts numeric strings', () => {
    const tokens = ok({ access_token: 'a', refresh_token_expires_in: '7200', x_refresh_token_expires_in: 3600 });
    expect(tokens.refreshTokenExpiresAt).toBe(context.sentAt + 3_600_000 - 1000);
  });

  it('ignores (never fails on) a refresh-token lifetime that is absurd, and treats 0 as unknown', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.constant(0), fc.constant(-1)),
        (lifetime) => {
          const tokens = ok({
            access_token: 'a',
            refresh_token: 'r',
            refresh_token_expires_in: lifetime,
            refresh_in: lifetime,
          });
          expect(tokens.refreshToken).toBe('r');
          for (const at of [tokens.refreshTokenExpiresAt, tokens.suggestedRefreshAt]) {
            if (at === undefined) continue;
            expect(Number.isFinite(at)).toBe(true);
            expect(at).toBeGreaterThanOrEqual(context.sentAt);
            expect(at).toBeLessThanOrEqual(context.sentAt + 10 * 365 * DAY_S * 1000);
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(ok({ access_token: 'a', refresh_expires_in: 0 }).refreshTokenExpiresAt).toBeUndefined();
    expect(ok({ access_token: 'a', refresh_token_expires_in: 11 * 365 * DAY_S }).refreshTokenExpiresAt).toBeUndefined();
  });

  it('reads refresh_in (seconds) into suggestedRefreshAt', () => {
    expect(ok({ access_token: 'a', expires_in: 3600, refresh_in: 1800 }).suggestedRefreshAt).toBe(
      context.sentAt + 1_800_000,
    );
    expect(ok({ access_token: 'a', refreshIn: '900' }).suggestedRefreshAt).toBe(context.sentAt + 900_000);
  });

  it('keeps every other field in extras with its wire name, and none of the fields it maps', () => {
    const tokens = ok({
      access_token: 'a',
      refresh_token: 'r',
      expires_in: 60,
      token_type: 'Bearer',
      scope: 'api',
      refresh_token_expires_in: 600,
      refresh_in: 30,
      instance_url: 'https://eu.example.my.salesforce.com',
      id_token: 'eyJ.id.token',
      authed_user: { id: 'U1', access_token: 'xoxp-user' },
      team: { id: 'T1', name: 'Acme' },
    });
    expect(tokens.extras).toEqual({
      instance_url: 'https://eu.example.my.salesforce.com',
      id_token: 'eyJ.id.token',
      authed_user: { id: 'U1', access_token: 'xoxp-user' },
      team: { id: 'T1', name: 'Acme' },
    });
    expect(Object.isFrozen(tokens.extras)).toBe(true);
  });

  it('drops an extra field too large to keep, and keeps the rotated refresh token and the fields that fit', () => {
    const tokens = ok({
      access_token: 'a',
      refresh_token: 'r2',
      instance_url: 'https://x.example',
      blob: 'b'.repeat(20_000),
    });
    expect(tokens.refreshToken).toBe('r2');
    expect(tokens.extras).toEqual({ instance_url: 'https://x.example' });
  });

  it('redacts credentials found among the extras of an error answer', () => {
    const outcome = interpretTokenResponse(
      {
        status: 400,
        contentType: 'application/json',
        text: JSON.stringify({
          error: 'invalid_request',
          error_description: 'bad id-token-SENTINEL-X1 for xoxp-SENTINEL-Y2',
          id_token: 'id-token-SENTINEL-X1',
          authed_user: { access_token: 'xoxp-SENTINEL-Y2' },
        }),
        retryAfterMs: undefined,
      },
      context,
    );
    if (!('error' in outcome)) throw new Error('expected an error');
    const text = `${outcome.error.message} ${JSON.stringify((outcome.error as TokenEndpointConfigurationError).response)}`;
    expect(text).not.toContain('SENTINEL');
    expect(text).toContain('[REDACTED]');
  });
});
