import type { PrivateJwk } from '@refreshkit/core';

/** A client key pair as a provider registers it (public JWK) and a client holds it (private JWK). */
export interface ClientKeyPair {
  readonly privateJwk: PrivateJwk;
  readonly publicJwk: JsonWebKey & { kid: string; use: 'sig' };
}

const GENERATE = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
} as const;

/** Generates a signing key pair with Web Crypto, exported as JWKs carrying `kid`. */
export async function generateClientKey(alg: keyof typeof GENERATE, kid: string): Promise<ClientKeyPair> {
  const pair = (await crypto.subtle.generateKey(GENERATE[alg], true, ['sign', 'verify'])) as CryptoKeyPair;
  const { alg: _a, key_ops: _k, ext: _e, ...privateJwk } = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const { alg: _b, key_ops: _l, ext: _f, ...publicJwk } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return {
    privateJwk: { ...privateJwk, kid } as PrivateJwk,
    publicJwk: { ...publicJwk, kid, use: 'sig' },
  };
}
