/**
 * How DPoP reaches the cache without widening the `TokenEndpoint` contract:
 * an `OAuth2Endpoint` with a `dpop` option exposes its prover under a
 * symbol, which `cache.fetch` looks up for the key's endpoint.
 */
import { TokenEndpointConfigurationError } from './errors.js';
import type { DpopProver } from './dpop-prover.js';
import type { TokenEndpoint } from './token-endpoint.js';

/** Where an endpoint keeps its DPoP prover. `Symbol.for`, so two copies of the package agree. */
export const DPOP_PROVER: unique symbol = Symbol.for('refreshkit.dpopProver');

/** The DPoP prover of `endpoint`, or undefined when it has none (no `dpop` option, or a custom endpoint). */
export function dpopProverOf(endpoint: unknown): DpopProver | undefined {
  if (typeof endpoint !== 'object' || endpoint === null) return undefined;
  return (endpoint as { [DPOP_PROVER]?: DpopProver })[DPOP_PROVER];
}

/**
 * For a cache's `endpoint` option, how to find a key's DPoP prover. A single
 * endpoint is looked at once; a factory is asked per call (it should return
 * the same endpoint per OAuth client anyway).
 */
export function dpopResolver(
  endpoint: TokenEndpoint | ((key: string) => TokenEndpoint),
): (key: string) => DpopProver | undefined {
  if (typeof endpoint !== 'function') {
    const prover = dpopProverOf(endpoint);
    return () => prover;
  }
  return (key) => dpopProverOf(endpoint(key));
}

/** Whether a token-endpoint error asks for a proof with the server's nonce (RFC 9449 §8). */
export function isNonceChallengeError(error: Error): boolean {
  return error instanceof TokenEndpointConfigurationError && error.oauthError === 'use_dpop_nonce';
}

/**
 * Whether a resource server's answer asks for a proof with its nonce
 * (RFC 9449 §9): 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
 * Not a token failure: the token stays valid.
 */
export function isNonceChallenge(response: Response): boolean {
  if (response.status !== 401) return false;
  const challenge = response.headers.get('www-authenticate');
  return challenge !== null && /(^|,)\s*dpop\b/i.test(challenge) && /error\s*=\s*"?use_dpop_nonce"?/i.test(challenge);
}
