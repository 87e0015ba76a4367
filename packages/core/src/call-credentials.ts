/**
 * How the hops of one outbound call are authorized with the token set it
 * got: shared by `cache.fetch` and the outbound client adapters, so a DPoP
 * token is refused, or proved, the same way everywhere.
 */
import type { BearerSource } from './bearer-fetch.js';
import type { DpopProver } from './dpop-prover.js';
import { DpopKeyMismatchError } from './errors.js';
import type { HopCredentials } from './outbound-hops.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';

/** The credentials of one outbound call, for every hop it makes on its checked origin. */
export interface CallCredentials {
  /** The access token the call carries: the one a 401 invalidates. */
  readonly accessToken: string;
  /** Whether the token is DPoP-bound: each hop then gets its own proof, and a nonce challenge earns a retry. */
  readonly dpop: boolean;
  /**
   * The headers of every hop when they do not depend on the hop (a bearer);
   * undefined for a DPoP token, whose proof names each hop's method and URL.
   */
  readonly fixedHeaders: HopCredentials | undefined;
  /**
   * The headers that authorize a hop to `url` with `method`: `authorization`,
   * and `dpop` for a DPoP proof. A bearer's are the same object for every
   * hop, returned without a promise.
   */
  headersFor(url: URL | string, method: string): HopCredentials | Promise<HopCredentials>;
  /** Keeps the `DPoP-Nonce` value of an answer from `origin` for the next proof there (nothing for a bearer). */
  learnNonce(origin: string, nonce: string | null | undefined): void;
}

const ignoreNonce = (): void => {};

/** The credentials of a call with a plain bearer token. */
export function bearerCredentials(accessToken: string): CallCredentials {
  const headers: HopCredentials = { authorization: `Bearer ${accessToken}` };
  return { accessToken, dpop: false, fixedHeaders: headers, headersFor: () => headers, learnNonce: ignoreNonce };
}

/**
 * The credentials of a call with `tokens` from a key whose endpoint has the
 * DPoP prover `dpop`. A bearer token (a server that did not bind) goes as a
 * bearer. A DPoP-bound token whose recorded key is not `dpop`'s is refused
 * here, before anything is sent. A DPoP token without a recorded key (set by
 * the app from its own code exchange) is tried with this process's key: a
 * wrong guess costs one 401, which the server would give anyway.
 *
 * @throws DpopKeyMismatchError for a token bound to another key.
 */
export async function credentialsOf(tokens: TokenSet, key: string, dpop: DpopProver): Promise<CallCredentials> {
  const { accessToken } = tokens;
  if (tokens.tokenType !== 'dpop') return bearerCredentials(accessToken);
  const ownJkt = await dpop.thumbprint();
  if (tokens.dpopJkt !== undefined && tokens.dpopJkt !== ownJkt) {
    throw new DpopKeyMismatchError(key, tokens.dpopJkt, ownJkt);
  }
  const authorization = `DPoP ${accessToken}`;
  return {
    accessToken,
    dpop: true,
    fixedHeaders: undefined,
    headersFor: async (url, method) => ({
      authorization,
      dpop: await dpop.proof({ method, url: typeof url === 'string' ? new URL(url) : url, accessToken }),
    }),
    learnNonce: (origin, nonce) => void dpop.learnNonce(origin, nonce),
  };
}

/**
 * The credentials of one attempt of a call for `key`: its fresh token as a
 * bearer, or, when the key's endpoint has the DPoP prover `dpop`, by
 * {@link credentialsOf}. Token failures reject with the core's typed errors.
 */
export function credentialsForKey(
  source: BearerSource,
  key: string,
  dpop: DpopProver | undefined,
  options: GetAccessTokenOptions | undefined,
): Promise<CallCredentials> {
  // Not async: a bearer call, the common case, costs one promise and no more.
  if (dpop === undefined) return source.getAccessToken(key, options).then(bearerCredentials);
  if (source.getTokenSet === undefined) {
    const error = new TypeError('Expected the token source of a DPoP call to have `getTokenSet` (a TokenCache has it)');
    return Promise.reject(error);
  }
  return source.getTokenSet(key, options).then((tokens) => credentialsOf(tokens, key, dpop));
}

/**
 * After a 401, before refreshing: a DPoP-bound token (another process with a
 * DPoP key wrote it to the shared store) cannot work as a bearer, and
 * refreshing it here, without a proof, would replace the other processes'
 * bound tokens with bearer ones. Checked only on this path, so a hit costs nothing.
 *
 * @throws DpopKeyMismatchError when the token sent is DPoP-bound.
 */
export async function refuseDpopBound(source: BearerSource, key: string, token: string): Promise<void> {
  const tokens = await source.getTokenSet?.(key).catch(() => undefined);
  if (tokens?.accessToken === token && tokens.tokenType === 'dpop') {
    throw new DpopKeyMismatchError(key, tokens.dpopJkt, undefined);
  }
}
