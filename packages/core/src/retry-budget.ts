import { isNonceChallenge } from './dpop-binding.js';

/** Why an outbound call is sent once more after a 401. */
export type RetryReason = 'nonce' | 'refresh';

/**
 * The retries one outbound call has left after 401s to its credentials:
 * one with the DPoP nonce the server just gave (the token is fine, so it is
 * kept), and one with a refreshed token. Shared by `cache.fetch` and the
 * outbound client adapters, so every path retries the same number of times.
 */
export class RetryBudget {
  #nonceSpent = false;
  #refreshSpent = false;

  /**
   * What an answer with `status` and `WWW-Authenticate: challenge` earns,
   * spending it: `'nonce'` for a DPoP nonce challenge to a DPoP call,
   * `'refresh'` for any other 401 (the caller invalidates the token sent),
   * undefined when nothing is left or the answer is not a 401.
   */
  take(status: number, challenge: string | null | undefined, dpop: boolean): RetryReason | undefined {
    if (status !== 401) return undefined;
    if (dpop && !this.#nonceSpent && isNonceChallenge(status, challenge)) {
      this.#nonceSpent = true;
      return 'nonce';
    }
    if (this.#refreshSpent) return undefined;
    this.#refreshSpent = true;
    return 'refresh';
  }
}
