/**
 * DPoP proofs (RFC 9449 §4): a JWT signed with the client's DPoP key for
 * each HTTP request, naming its method and URL, so a token bound to the key
 * is useless to whoever copies it without the private key.
 */
import { TokenEndpointConfigurationError } from './errors.js';
import { resolveDpopKey, type DpopKey, type ResolvedDpopKey } from './dpop-key.js';
import { DpopNonces } from './dpop-nonces.js';
import { base64url, signCompactJws } from './jwk-signing.js';

/**
 * DPoP settings of an `OAuth2Endpoint`.
 *
 * One key per endpoint (per OAuth client), not per cache key: the token
 * endpoint binds every token it issues to the client's key, so one key is
 * what every token set of the client shares, and one proof signer and nonce
 * book serve them all.
 */
export interface DpopOptions {
  /**
   * The DPoP private key: a private JWK (ES256, ES384, ES512, RS256...,
   * PS256..., EdDSA) or a `CryptoKeyPair`. Tokens are bound to its
   * thumbprint, so processes that share a store (Redis, PostgreSQL) must
   * all be given the same key, by configuration like a client secret: a
   * token bound to another key fails with `DpopKeyMismatchError`. Omitted:
   * an ES256 pair is generated for this process, which suits a cache whose
   * store is not shared. Never appears in errors, events or `inspect`.
   */
  readonly key?: DpopKey;
}

/** What a proof is for: the request, and the access token it presents, if any. */
export interface ProofRequest {
  /** The HTTP method, upper case. */
  readonly method: string;
  readonly url: URL;
  /** The access token sent with the request: the proof then carries its hash (`ath`). */
  readonly accessToken?: string;
}

/** The `htu` of a URL: without query and fragment (RFC 9449 §4.2). */
export function htuOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Signs DPoP proofs with one key and remembers each server's nonce. The key
 * is imported (or generated) once, at the first proof, and kept as a
 * non-extractable `CryptoKey` in a private field.
 */
export class DpopProver {
  readonly #key: DpopKey | undefined;
  #resolved: Promise<ResolvedDpopKey> | undefined;
  readonly #nonces = new DpopNonces();
  readonly #now: () => number;
  /** The `ath` of the last token proved: a token is used for many calls, so it is hashed once. */
  #lastAth: { readonly token: string; readonly ath: string } | undefined;

  constructor(options: DpopOptions, now: () => number) {
    this.#key = options.key;
    this.#now = now;
  }

  /**
   * The key's thumbprint (`jkt`): what a DPoP-bound token set records as
   * `dpopJkt`.
   *
   * @throws TokenEndpointConfigurationError when Web Crypto refuses the key.
   */
  async thumbprint(): Promise<string> {
    return (await this.#resolve()).jkt;
  }

  /**
   * A new proof for one request, with a fresh `jti` and the nonce the
   * request's server gave last, if any.
   *
   * @throws TokenEndpointConfigurationError when Web Crypto refuses the key.
   */
  async proof({ method, url, accessToken }: ProofRequest): Promise<string> {
    const key = await this.#resolve();
    const payload: Record<string, string | number> = {
      jti: globalThis.crypto.randomUUID(),
      htm: method,
      htu: htuOf(url),
      iat: Math.floor(this.#now() / 1000),
    };
    const nonce = this.#nonces.get(url.origin);
    if (nonce !== undefined) payload.nonce = nonce;
    if (accessToken !== undefined) payload.ath = await this.#athOf(accessToken);
    try {
      return await signCompactJws({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk }, payload, key.privateKey);
    } catch (error) {
      throw refused(`the DPoP key cannot sign ${key.alg}`, error);
    }
  }

  /**
   * Keeps `nonce`, the `DPoP-Nonce` header value of an answer from
   * `origin`'s server, for the next proofs sent there.
   * @returns whether it was a valid nonce.
   */
  learnNonce(origin: string, nonce: string | null | undefined): boolean {
    return this.#nonces.learn(origin, nonce);
  }

  /** Keeps `util.inspect` free of the key. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'DpopProver {}';
  }

  /** `JSON.stringify` shows nothing of the key. */
  toJSON(): Record<string, never> {
    return {};
  }

  #resolve(): Promise<ResolvedDpopKey> {
    this.#resolved ??= resolveDpopKey(this.#key).catch((error: unknown) => {
      // Not kept: a later call tries again (a transient engine failure must not poison the endpoint).
      this.#resolved = undefined;
      throw refused('the DPoP key cannot be imported', error);
    });
    return this.#resolved;
  }

  async #athOf(token: string): Promise<string> {
    const last = this.#lastAth;
    if (last !== undefined && last.token === token) return last.ath;
    const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
    const ath = base64url(new Uint8Array(digest));
    this.#lastAth = { token, ath };
    return ath;
  }
}

/**
 * A key Web Crypto refused. Only the cause's name is kept: an engine's
 * message may quote key material.
 */
function refused(what: string, error: unknown): TokenEndpointConfigurationError {
  if (error instanceof TokenEndpointConfigurationError) return error;
  const reason = error instanceof Error ? error.name : 'error';
  return new TokenEndpointConfigurationError(`No DPoP proof signed: ${what} (Web Crypto: ${reason})`);
}
