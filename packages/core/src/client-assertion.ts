/**
 * RFC 7523 client assertions: the JWT a client signs to authenticate at the
 * token endpoint instead of sending a secret (`private_key_jwt` with its
 * private key, `client_secret_jwt` with an HMAC of its secret).
 *
 * Every assertion is new: `iss` = `sub` = the client id, `aud` the token
 * endpoint (or a configured audience), a random `jti`, `iat` now and `exp`
 * a minute later. A retry signs a new one, since servers refuse a `jti`
 * seen before.
 */
import { TokenEndpointConfigurationError } from './errors.js';
import {
  ASYMMETRIC_ALGORITHMS,
  defaultAlgorithmOfCryptoKey,
  defaultAlgorithmOfJwk,
  importHmacSecret,
  importSigningJwk,
  signCompactJws,
  type JwsAlgorithm,
} from './jwk-signing.js';
import { describe } from './validate.js';

/** A private key as a JWK (RFC 7517): `d` and the public members, with the `kid` the server knows it by. */
export interface PrivateJwk extends JsonWebKey {
  /** The key id registered with the provider (in its JWKS), sent as the assertion header's `kid`. */
  readonly kid: string;
  /** The JWS algorithm; without it, the one the key type implies (`RS256` for RSA, `ES256` for P-256, ...). */
  readonly alg?: string;
}

/** A private key already imported into Web Crypto (non-extractable is fine), with its `kid`. */
export interface ClientCryptoKey {
  /** A private key with the `sign` usage. */
  readonly key: CryptoKey;
  /** The key id registered with the provider, sent as the assertion header's `kid`. */
  readonly kid: string;
  /** The JWS algorithm; without it, the one the key's `algorithm` implies. */
  readonly alg?: JwsAlgorithm;
}

/** The private key of a `private_key_jwt` client. */
export type ClientKey = PrivateJwk | ClientCryptoKey;

/**
 * Returns the key to sign with now. Called for every assertion, so a key
 * rotated in a vault or file is used from the next token request on,
 * without a restart. Return the same object while the key is unchanged:
 * an imported key is reused per object.
 */
export type ClientKeyProvider = () => ClientKey | Promise<ClientKey>;

/** A key ready to sign with. */
interface SigningKey {
  readonly key: CryptoKey;
  readonly alg: JwsAlgorithm;
  readonly kid: string | undefined;
}

/** How long an assertion is valid: long enough for clock skew and a slow request, short enough to be useless if captured. */
export const ASSERTION_LIFETIME_SECONDS = 60;

function isCryptoKeyLike(value: unknown): value is CryptoKey {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CryptoKey).type === 'string' &&
    typeof (value as CryptoKey).algorithm === 'object'
  );
}

/**
 * Checks a key given as `clientKey` (or returned by its provider) and says
 * how it signs. Messages name members, never their values: a key in the
 * wrong place is still a secret.
 *
 * @throws TypeError naming what is wrong.
 */
export function describeClientKey(name: string, value: unknown): { alg: JwsAlgorithm; kid: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Expected \`${name}\` to be a private JWK with a \`kid\`, or \`{ key: CryptoKey, kid }\`, got ${describe(value, true)}`,
    );
  }
  const candidate = value as Partial<PrivateJwk & ClientCryptoKey>;
  if (typeof candidate.kid !== 'string' || candidate.kid.length === 0) {
    throw new TypeError(
      `Expected \`${name}.kid\` to be a non-empty string (the key id registered with the provider), got ${describe(candidate.kid)}`,
    );
  }
  if (candidate.alg !== undefined && !(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(candidate.alg)) {
    throw new TypeError(
      `Expected \`${name}.alg\` to be one of ${ASYMMETRIC_ALGORITHMS.map((a) => `\`${a}\``).join(', ')}, got ${describe(candidate.alg)}`,
    );
  }
  if ('key' in candidate) {
    const key = candidate.key;
    if (!isCryptoKeyLike(key) || key.type !== 'private' || !key.usages.includes('sign')) {
      throw new TypeError(
        `Expected \`${name}.key\` to be a private CryptoKey with the \`sign\` usage, got ${isCryptoKeyLike(key) ? `a ${key.type} key with usages [${key.usages.join(', ')}]` : describe(key, true)}`,
      );
    }
    const alg = (candidate.alg as JwsAlgorithm | undefined) ?? defaultAlgorithmOfCryptoKey(key);
    if (alg === undefined) {
      throw new TypeError(
        `Expected \`${name}.key\` to be an RSA, ECDSA or Ed25519 signing key, got a ${describe(key.algorithm.name)} key`,
      );
    }
    return { alg, kid: candidate.kid };
  }
  if (typeof candidate.d !== 'string' || candidate.d.length === 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a private JWK (with \`d\`), got a JWK without \`d\`: pass the private key; the provider holds the public one`,
    );
  }
  const implied = defaultAlgorithmOfJwk(candidate);
  if (implied === undefined) {
    throw new TypeError(
      `Expected \`${name}.kty\` to be \`RSA\`, \`EC\` (P-256, P-384, P-521) or \`OKP\` (Ed25519), got ${describe(candidate.kty)} with curve ${describe(candidate.crv)}`,
    );
  }
  const alg = (candidate.alg as JwsAlgorithm | undefined) ?? implied;
  // RSA keys sign any RS or PS algorithm; an EC or OKP key signs only the one its curve names.
  const fits = candidate.kty === 'RSA' ? /^(RS|PS)/.test(alg) : alg === implied;
  if (!fits) {
    throw new TypeError(
      `Expected \`${name}.alg\` to fit its key type, got \`${alg}\` for kty \`${candidate.kty}\`${candidate.crv === undefined ? '' : ` on ${candidate.crv}`} (which signs ${candidate.kty === 'RSA' ? 'RS256 to PS512' : `\`${implied}\``})`,
    );
  }
  return { alg, kid: candidate.kid };
}

/** What {@link ClientAssertionSigner} signs with: a private key, or the client secret. */
export type AssertionCredential =
  | { readonly method: 'private_key_jwt'; readonly clientKey: ClientKey | ClientKeyProvider }
  | { readonly method: 'client_secret_jwt'; readonly clientSecret: string; readonly alg: JwsAlgorithm };

/**
 * Signs client assertions for one client. Keys are imported once per key
 * object and kept only in private fields, which neither `util.inspect` nor
 * `JSON.stringify` reach.
 */
export class ClientAssertionSigner {
  readonly #credential: AssertionCredential;
  /** Imported keys per key object, so a provider returning the same object costs one import. */
  readonly #imported = new WeakMap<object, Promise<SigningKey>>();
  #secretKey: Promise<SigningKey> | undefined;

  constructor(credential: AssertionCredential) {
    this.#credential = credential;
  }

  /**
   * A new assertion for `clientId`, addressed to `audience`, issued at `nowMs`.
   *
   * @throws TokenEndpointConfigurationError when the key provider fails or
   * returns an unusable key, or Web Crypto refuses the key (the message
   * names the `kid` and algorithm, never the key).
   */
  async sign(clientId: string, audience: string, nowMs: number): Promise<string> {
    const signing = await this.#signingKey();
    const iat = Math.floor(nowMs / 1000);
    const header: { alg: JwsAlgorithm; typ: string; kid?: string } = { alg: signing.alg, typ: 'JWT' };
    if (signing.kid !== undefined) header.kid = signing.kid;
    const payload = {
      iss: clientId,
      sub: clientId,
      aud: audience,
      jti: globalThis.crypto.randomUUID(),
      iat,
      exp: iat + ASSERTION_LIFETIME_SECONDS,
    };
    try {
      return await signCompactJws(header, payload, signing.key);
    } catch (error) {
      const which = signing.kid === undefined ? 'the client secret' : `the private key \`${signing.kid}\``;
      throw keyRefused(`${which} cannot sign ${signing.alg}`, error);
    }
  }

  #signingKey(): Promise<SigningKey> {
    const credential = this.#credential;
    if (credential.method === 'client_secret_jwt') {
      this.#secretKey ??= importHmacSecret(credential.clientSecret, credential.alg).then(
        (key) => ({ key, alg: credential.alg, kid: undefined }),
        (error: unknown) => {
          this.#secretKey = undefined;
          throw keyRefused(`the client secret cannot be an ${credential.alg} key`, error);
        },
      );
      return this.#secretKey;
    }
    const source = credential.clientKey;
    return typeof source === 'function' ? this.#fromProvider(source) : this.#importOnce(source, 'clientKey');
  }

  async #fromProvider(provider: ClientKeyProvider): Promise<SigningKey> {
    let key: ClientKey;
    try {
      key = await provider();
    } catch (cause) {
      throw new TokenEndpointConfigurationError('The `clientKey` provider failed, so no client assertion was signed', {
        cause,
      });
    }
    return this.#importOnce(key, 'the key the `clientKey` provider returned');
  }

  #importOnce(key: ClientKey, name: string): Promise<SigningKey> {
    let described: { alg: JwsAlgorithm; kid: string };
    try {
      described = describeClientKey(name, key);
    } catch (error) {
      return Promise.reject(new TokenEndpointConfigurationError((error as Error).message));
    }
    const known = this.#imported.get(key);
    if (known !== undefined) return known;
    const { alg, kid } = described;
    const imported: Promise<SigningKey> =
      'key' in key
        ? Promise.resolve({ key: key.key, alg, kid })
        : importSigningJwk(key, alg).then(
            (cryptoKey) => ({ key: cryptoKey, alg, kid }),
            (error: unknown) => {
              this.#imported.delete(key);
              throw keyRefused(`the private key \`${kid}\` cannot sign ${alg}`, error);
            },
          );
    this.#imported.set(key, imported);
    return imported;
  }
}

/**
 * A key Web Crypto refused. The cause is left out: only its name is kept,
 * as an engine's message may quote key material.
 */
function keyRefused(what: string, error: unknown): TokenEndpointConfigurationError {
  const reason = error instanceof Error ? error.name : 'error';
  return new TokenEndpointConfigurationError(`No client assertion signed: ${what} (Web Crypto: ${reason})`);
}
