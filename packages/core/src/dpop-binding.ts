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
 * Whether a resource server's answer (its status and `WWW-Authenticate`
 * value, as any HTTP client gives them) asks for a proof with its nonce
 * (RFC 9449 §9): 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
 * Not a token failure: the token stays valid.
 */
export function isNonceChallenge(status: number, challenge: string | null | undefined): boolean {
  if (status !== 401 || typeof challenge !== 'string') return false;
  return /(^|,)\s*dpop\b/i.test(challenge) && /error\s*=\s*"?use_dpop_nonce"?/i.test(challenge);
}

/**
 * Where a `TokenCache` answers which DPoP prover a key's endpoint has, for
 * the outbound client adapters; a symbol, so the cache's public surface
 * does not grow.
 */
export const DPOP_PROVER_FOR: unique symbol = Symbol.for('refreshkit.dpopProverFor');

/** The DPoP prover of `key`'s endpoint in `cache`, or undefined (no DPoP, or not a TokenCache). */
export function dpopProverForKey(cache: object, key: string): DpopProver | undefined {
  return (cache as { [DPOP_PROVER_FOR]?: (key: string) => DpopProver | undefined })[DPOP_PROVER_FOR]?.(key);
}
