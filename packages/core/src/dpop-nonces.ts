/**
 * The `DPoP-Nonce` values servers hand out (RFC 9449 §8 and §9), one per
 * origin: the token endpoint's and each resource server's are separate.
 */

/** Origins remembered at most; the oldest is forgotten first. Bounds memory against an app calling many hosts. */
const MAX_ORIGINS = 256;

/** Nonce values longer than this are not kept: a nonce is short (RFC 9449 §8.1 gives its syntax), a page is not. */
const MAX_NONCE_LENGTH = 1_024;

/** RFC 9449 §8.1: `nonce = 1*NQCHAR`, printable ASCII without `"` and `\`. */
const NONCE_SYNTAX = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/** The latest nonce each server gave. Nonces are not secrets (any client sees them), but they are not logged either. */
export class DpopNonces {
  readonly #byOrigin = new Map<string, string>();

  /** The nonce to put in the next proof for `origin`, if the server gave one. */
  get(origin: string): string | undefined {
    return this.#byOrigin.get(origin);
  }

  /**
   * Keeps `nonce`, the `DPoP-Nonce` header value of an answer from `origin`
   * (as any HTTP client gives it), if it is a valid one. Servers may send a
   * new nonce with any answer; the latest wins.
   *
   * @returns whether the answer carried a valid nonce.
   */
  learn(origin: string, nonce: string | null | undefined): boolean {
    if (nonce === null || nonce === undefined || nonce.length > MAX_NONCE_LENGTH || !NONCE_SYNTAX.test(nonce))
      return false;
    if (this.#byOrigin.get(origin) === nonce) return true;
    this.#byOrigin.delete(origin);
    this.#byOrigin.set(origin, nonce);
    if (this.#byOrigin.size > MAX_ORIGINS) this.#byOrigin.delete(this.#byOrigin.keys().next().value!);
    return true;
  }
}
