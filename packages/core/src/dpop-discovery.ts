/**
 * Whether a provider's metadata supports the DPoP configured (RFC 9449
 * §5.1), so `discover` refuses at once what the token endpoint would
 * otherwise silently ignore (a server without DPoP answers with bearer tokens).
 */
import { describeDpopKey } from './dpop-key.js';
import type { DpopOptions } from './dpop-prover.js';
import { DiscoveryError } from './errors.js';

/** The algorithm proofs will be signed with: the key's, or ES256 for a generated key. */
function dpopAlgorithm(dpop: DpopOptions): string {
  return dpop.key === undefined ? 'ES256' : describeDpopKey('dpop.key', dpop.key);
}

/**
 * Checks `dpop_signing_alg_values_supported` of the metadata against the
 * DPoP key. A provider that does not list it does not advertise DPoP:
 * refused, since tokens would come back unbound while the app asked for
 * bound ones.
 *
 * @throws DiscoveryError (`reason: 'unsupported_dpop'`).
 */
export function checkDpopSupport(issuer: string, supported: unknown, dpop: DpopOptions): void {
  const alg = dpopAlgorithm(dpop);
  if (supported === undefined) {
    throw new DiscoveryError(
      'unsupported_dpop',
      issuer,
      'the metadata has no `dpop_signing_alg_values_supported`: the provider does not advertise DPoP; remove the `dpop` option or enable DPoP at the provider',
    );
  }
  if (!Array.isArray(supported) || !supported.every((value) => typeof value === 'string')) {
    throw new DiscoveryError(
      'invalid_metadata',
      issuer,
      '`dpop_signing_alg_values_supported` is not an array of strings',
    );
  }
  if (!supported.includes(alg)) {
    const list = supported.length === 0 ? 'none' : supported.map((value) => `\`${value}\``).join(', ');
    throw new DiscoveryError(
      'unsupported_dpop',
      issuer,
      `the provider accepts DPoP proofs signed with ${list} (dpop_signing_alg_values_supported), not \`${alg}\`: use a DPoP key of a supported algorithm`,
    );
  }
}
