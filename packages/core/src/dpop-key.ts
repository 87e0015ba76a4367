/**
 * The key pair DPoP proofs (RFC 9449) are signed with, and its JWK SHA-256
 * thumbprint (RFC 7638), the `jkt` a server binds tokens to. Web Crypto only.
 */
import {
  ASYMMETRIC_ALGORITHMS,
  base64url,
  defaultAlgorithmOfCryptoKey,
  defaultAlgorithmOfJwk,
  importSigningJwk,
  type JwsAlgorithm,
} from './jwk-signing.js';
import { describe } from './validate.js';

/** A private JWK for DPoP: `d` and the public members; `kid` is not needed (the proof carries the public key). */
export interface DpopPrivateJwk extends JsonWebKey {
  /** The JWS algorithm; without it, the one the key type implies (`ES256` for P-256, `RS256` for RSA, `EdDSA` for Ed25519). */
  readonly alg?: string;
}

/**
 * The DPoP key: a private JWK, or a Web Crypto key pair (the private key may
 * be non-extractable; the public key must be extractable, since every proof
 * carries it as a JWK).
 */
export type DpopKey = DpopPrivateJwk | CryptoKeyPair;

/** A DPoP key ready to sign with. */
export interface ResolvedDpopKey {
  readonly privateKey: CryptoKey;
  readonly alg: JwsAlgorithm;
  /** The public key as the proof header's `jwk` carries it: required members only. */
  readonly publicJwk: Readonly<Record<string, string>>;
  /** base64url SHA-256 JWK thumbprint (RFC 7638) of the public key: the `jkt` tokens are bound to. */
  readonly jkt: string;
}

/** The public members of each key type, in the lexicographic order RFC 7638 hashes them in. */
const REQUIRED_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

function isCryptoKeyPair(value: object): value is CryptoKeyPair {
  return 'privateKey' in value || 'publicKey' in value;
}

function isCryptoKeyLike(value: unknown): value is CryptoKey {
  return typeof value === 'object' && value !== null && typeof (value as CryptoKey).type === 'string';
}

/**
 * Checks a `dpop.key` and says which algorithm it signs with. Messages name
 * members, never their values.
 *
 * @throws TypeError naming what is wrong.
 */
export function describeDpopKey(name: string, value: unknown): JwsAlgorithm {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Expected \`${name}\` to be a private JWK or a CryptoKeyPair, got ${describe(value, true)}: omit it to generate an ES256 key for this process`,
    );
  }
  if (isCryptoKeyPair(value)) {
    const { privateKey, publicKey } = value;
    if (!isCryptoKeyLike(privateKey) || privateKey.type !== 'private' || !privateKey.usages.includes('sign')) {
      throw new TypeError(`Expected \`${name}.privateKey\` to be a private CryptoKey with the \`sign\` usage`);
    }
    if (!isCryptoKeyLike(publicKey) || publicKey.type !== 'public' || !publicKey.extractable) {
      throw new TypeError(
        `Expected \`${name}.publicKey\` to be an extractable public CryptoKey (every proof carries it as a JWK)`,
      );
    }
    const alg = defaultAlgorithmOfCryptoKey(privateKey);
    if (alg === undefined) {
      throw new TypeError(
        `Expected \`${name}.privateKey\` to be an RSA, ECDSA or Ed25519 signing key, got a ${describe(privateKey.algorithm.name)} key`,
      );
    }
    return alg;
  }
  const jwk = value as DpopPrivateJwk;
  if (typeof jwk.d !== 'string' || jwk.d.length === 0) {
    throw new TypeError(`Expected \`${name}\` to be a private JWK (with \`d\`), got a JWK without \`d\``);
  }
  const implied = defaultAlgorithmOfJwk(jwk);
  if (implied === undefined) {
    throw new TypeError(
      `Expected \`${name}.kty\` to be \`RSA\`, \`EC\` (P-256, P-384, P-521) or \`OKP\` (Ed25519), got ${describe(jwk.kty)} with curve ${describe(jwk.crv)}`,
    );
  }
  if (jwk.alg !== undefined && !(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(jwk.alg)) {
    throw new TypeError(
      `Expected \`${name}.alg\` to be one of ${ASYMMETRIC_ALGORITHMS.map((a) => `\`${a}\``).join(', ')}, got ${describe(jwk.alg)}`,
    );
  }
  const alg = (jwk.alg as JwsAlgorithm | undefined) ?? implied;
  const fits = jwk.kty === 'RSA' ? /^(RS|PS)/.test(alg) : alg === implied;
  if (!fits) {
    throw new TypeError(
      `Expected \`${name}.alg\` to fit its key type, got \`${alg}\` for kty \`${jwk.kty}\`${jwk.crv === undefined ? '' : ` on ${jwk.crv}`}`,
    );
  }
  return alg;
}

/** The required public members of `jwk` (RFC 7638 §3.2), nothing private. */
function publicMembers(jwk: JsonWebKey): Record<string, string> {
  const members = REQUIRED_MEMBERS[jwk.kty ?? ''] ?? [];
  const result: Record<string, string> = {};
  for (const member of members) result[member] = String((jwk as Record<string, unknown>)[member]);
  return result;
}

/** RFC 7638 thumbprint: SHA-256 of the required members, in order, without whitespace. */
export async function jwkThumbprint(publicJwk: Readonly<Record<string, string>>): Promise<string> {
  // publicMembers already orders the members as RFC 7638 wants, so JSON.stringify keeps that order.
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(publicJwk)));
  return base64url(new Uint8Array(digest));
}

/**
 * Imports (or, without `key`, generates a non-extractable ES256 pair) the
 * DPoP key and computes its thumbprint. The private JWK is only read here;
 * what is kept is a non-extractable `CryptoKey`.
 */
export async function resolveDpopKey(key: DpopKey | undefined): Promise<ResolvedDpopKey> {
  let privateKey: CryptoKey;
  let alg: JwsAlgorithm;
  let publicJwk: Record<string, string>;
  if (key === undefined) {
    const pair = (await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    privateKey = pair.privateKey;
    alg = 'ES256';
    publicJwk = publicMembers(await globalThis.crypto.subtle.exportKey('jwk', pair.publicKey));
  } else if (isCryptoKeyPair(key)) {
    alg = describeDpopKey('dpop.key', key);
    privateKey = key.privateKey;
    publicJwk = publicMembers(await globalThis.crypto.subtle.exportKey('jwk', key.publicKey));
  } else {
    alg = describeDpopKey('dpop.key', key);
    privateKey = await importSigningJwk(key, alg);
    publicJwk = publicMembers(key);
  }
  return { privateKey, alg, publicJwk, jkt: await jwkThumbprint(publicJwk) };
}
