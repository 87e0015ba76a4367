/**
 * Compact JWS signing (RFC 7515) with Web Crypto only, so core stays free of
 * `node:` imports: the JOSE algorithms a token endpoint accepts for client
 * assertions, mapped to the Web Crypto parameters that produce them.
 */

/** JWS algorithms refreshkit signs client assertions with. */
export type JwsAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'HS256'
  | 'HS384'
  | 'HS512';

/** How Web Crypto imports a key for one JWS algorithm, and how it signs with it. */
interface WebCryptoParams {
  readonly importParams: RsaHashedImportParams | EcKeyImportParams | HmacImportParams | Algorithm;
  readonly signParams: Algorithm | RsaPssParams | EcdsaParams;
}

function rsa(name: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS', bits: 256 | 384 | 512): WebCryptoParams {
  const hash = `SHA-${bits}`;
  return {
    importParams: { name, hash },
    signParams: name === 'RSA-PSS' ? { name, saltLength: bits / 8 } : { name },
  };
}

function ecdsa(namedCurve: 'P-256' | 'P-384' | 'P-521', bits: 256 | 384 | 512): WebCryptoParams {
  // Web Crypto's ECDSA output is already r || s (IEEE P1363), the form JWS wants: no DER unwrapping.
  return { importParams: { name: 'ECDSA', namedCurve }, signParams: { name: 'ECDSA', hash: `SHA-${bits}` } };
}

function hmac(bits: 256 | 384 | 512): WebCryptoParams {
  return { importParams: { name: 'HMAC', hash: `SHA-${bits}` }, signParams: { name: 'HMAC' } };
}

const PARAMS: Readonly<Record<JwsAlgorithm, WebCryptoParams>> = {
  RS256: rsa('RSASSA-PKCS1-v1_5', 256),
  RS384: rsa('RSASSA-PKCS1-v1_5', 384),
  RS512: rsa('RSASSA-PKCS1-v1_5', 512),
  PS256: rsa('RSA-PSS', 256),
  PS384: rsa('RSA-PSS', 384),
  PS512: rsa('RSA-PSS', 512),
  ES256: ecdsa('P-256', 256),
  ES384: ecdsa('P-384', 384),
  ES512: ecdsa('P-521', 512),
  EdDSA: { importParams: { name: 'Ed25519' }, signParams: { name: 'Ed25519' } },
  HS256: hmac(256),
  HS384: hmac(384),
  HS512: hmac(512),
};

/** The asymmetric algorithms, for `private_key_jwt`. */
export const ASYMMETRIC_ALGORITHMS: readonly JwsAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Whether `value` names an algorithm refreshkit can sign with. */
export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && Object.hasOwn(PARAMS, value);
}

/**
 * The algorithm a JWK without `alg` signs with: the one its key type allows
 * (EC and OKP keys name their curve), `RS256` for RSA as RFC 7518
 * recommends. Undefined for key types that cannot sign an assertion.
 */
export function defaultAlgorithmOfJwk(jwk: JsonWebKey): JwsAlgorithm | undefined {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[jwk.crv ?? ''];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

/** The algorithm a private `CryptoKey` signs with, from its own `algorithm`. */
export function defaultAlgorithmOfCryptoKey(key: CryptoKey): JwsAlgorithm | undefined {
  const algorithm = key.algorithm as Partial<RsaHashedKeyAlgorithm & EcKeyAlgorithm>;
  const bits = algorithm.hash?.name.slice('SHA-'.length);
  if (algorithm.name === 'RSASSA-PKCS1-v1_5')
    return isJwsAlgorithm(`RS${bits}`) ? (`RS${bits}` as JwsAlgorithm) : undefined;
  if (algorithm.name === 'RSA-PSS') return isJwsAlgorithm(`PS${bits}`) ? (`PS${bits}` as JwsAlgorithm) : undefined;
  if (algorithm.name === 'ECDSA') {
    return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[algorithm.namedCurve ?? ''];
  }
  if (algorithm.name === 'Ed25519') return 'EdDSA';
  return undefined;
}

/** Imports a private JWK for signing with `alg`. Rejects with Web Crypto's own error when key and algorithm do not fit. */
export function importSigningJwk(jwk: JsonWebKey, alg: JwsAlgorithm): Promise<CryptoKey> {
  // Only the members Web Crypto needs: `key_ops` or `use` written for another purpose must not block signing.
  const { key_ops: _ops, use: _use, alg: _alg, ...material } = jwk as JsonWebKey & { use?: string };
  return globalThis.crypto.subtle.importKey('jwk', material, PARAMS[alg].importParams, false, ['sign']);
}

/** Imports a shared secret (its UTF-8 bytes) as an HMAC key for `alg`. */
export function importHmacSecret(secret: string, alg: JwsAlgorithm): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('raw', textEncoder.encode(secret), PARAMS[alg].importParams, false, [
    'sign',
  ]);
}

const textEncoder = new TextEncoder();

/** Base64url without padding (RFC 7515 §2). */
export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function encodeJson(value: object): string {
  return base64url(textEncoder.encode(JSON.stringify(value)));
}

/** Signs `payload` as a compact JWS with `key`; `header.alg` says how. */
export async function signCompactJws(
  header: { readonly alg: JwsAlgorithm } & Readonly<Record<string, unknown>>,
  payload: object,
  key: CryptoKey,
): Promise<string> {
  const signingInput = `${encodeJson(header)}.${encodeJson(payload)}`;
  const signature = await globalThis.crypto.subtle.sign(
    PARAMS[header.alg].signParams,
    key,
    textEncoder.encode(signingInput),
  );
  return `${signingInput}.${base64url(new Uint8Array(signature))}`;
}
