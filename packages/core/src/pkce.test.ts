import { describe, expect, it } from '@jest/globals';
import { createPkcePair, pkceChallengeOf } from './pkce.js';

describe('PKCE (RFC 7636)', () => {
  it('derives the S256 challenge of RFC 7636 appendix B', async () => {
    expect(await pkceChallengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('makes a fresh 43-character unreserved verifier and its S256 challenge each time', async () => {
    const first = await createPkcePair();
    const second = await createPkcePair();
    expect(first.codeVerifier).toMatch(/^[A-Za-z0-9\-._~]{43,128}$/);
    expect(first.codeVerifier).toHaveLength(43);
    expect(first.codeChallengeMethod).toBe('S256');
    expect(first.codeChallenge).toBe(await pkceChallengeOf(first.codeVerifier));
    expect(second.codeVerifier).not.toBe(first.codeVerifier);
  });

  it.each([
    ['too short', 'a'.repeat(42)],
    ['too long', 'a'.repeat(129)],
    ['outside the unreserved characters', `${'a'.repeat(42)}+`],
  ])('refuses a verifier %s without quoting it', async (_why, verifier) => {
    const error = await pkceChallengeOf(verifier).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('`codeVerifier`');
    expect((error as Error).message).toContain('43 to 128');
    expect((error as Error).message).not.toContain(verifier);
  });
});
