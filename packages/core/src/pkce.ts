/**
 * Proof Key for Code Exchange (RFC 7636): the verifier an app keeps in the
 * user's session while the browser visits the authorization server, and the
 * S256 challenge it sends there. Web Crypto only, so core stays free of
 * `node:` imports.
 */

/** A PKCE verifier with its S256 challenge. */
export interface PkcePair {
  /**
   * The secret half: keep it server-side (the session) until the callback,
   * then pass it to `endpoint.authorizationCode`. Never put it in a URL.
   */
  readonly codeVerifier: string;
  /** Goes in the authorization request as `code_challenge`. */
  readonly codeChallenge: string;
  /** Goes in the authorization request as `code_challenge_method`. */
  readonly codeChallengeMethod: 'S256';
}

/** RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`. */
const VERIFIER_SYNTAX = /^[A-Za-z0-9\-._~]{43,128}$/;

/** What the rule is, for messages that must not show the value. */
export const CODE_VERIFIER_DESCRIPTION =
  'a string of 43 to 128 characters from A-Z, a-z, 0-9, `-`, `.`, `_`, `~` (RFC 7636)';

/** Whether `value` is a well-formed PKCE code verifier. */
export function isValidCodeVerifier(value: unknown): value is string {
  return typeof value === 'string' && VERIFIER_SYNTAX.test(value);
}

/** Asserts a PKCE code verifier, naming the field and never showing the value. */
export function assertCodeVerifier(name: string, value: unknown): asserts value is string {
  if (!isValidCodeVerifier(value)) {
    const got =
      typeof value === 'string'
        ? `a string of ${value.length} characters outside that rule (not shown)`
        : `a value of type ${value === null ? 'null' : typeof value}`;
    throw new TypeError(`Expected \`${name}\` to be ${CODE_VERIFIER_DESCRIPTION}, got ${got}`);
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The S256 challenge of a verifier: `BASE64URL(SHA256(ASCII(code_verifier)))`.
 *
 * @throws TypeError when `codeVerifier` is not a valid verifier.
 */
export async function pkceChallengeOf(codeVerifier: string): Promise<string> {
  assertCodeVerifier('codeVerifier', codeVerifier);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier));
  return base64url(new Uint8Array(digest));
}

/**
 * Makes a new PKCE pair: a 43-character verifier from 32 random bytes (256
 * bits, as RFC 7636 §7.1 recommends) and its S256 challenge.
 *
 * @example
 * const pkce = await createPkcePair();
 * session.codeVerifier = pkce.codeVerifier;
 * authorizeUrl.searchParams.set('code_challenge', pkce.codeChallenge);
 * authorizeUrl.searchParams.set('code_challenge_method', pkce.codeChallengeMethod);
 */
export async function createPkcePair(): Promise<PkcePair> {
  const codeVerifier = base64url(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  return { codeVerifier, codeChallenge: await pkceChallengeOf(codeVerifier), codeChallengeMethod: 'S256' };
}
