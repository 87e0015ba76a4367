const CANONICAL_VERSION = /^[1-9][0-9]{0,15}$/;

/**
 * `version` as a number when it is exactly how the store writes one: a
 * positive safe integer in decimal with no sign, padding, exponent or
 * fraction. Anything else (`01`, `1e0`, ` 1`, `1.0`) would compare unequal
 * as a string in the compare-and-set script while equal as a number here.
 */
export function canonicalVersion(version: string | null): number | undefined {
  if (version === null || !CANONICAL_VERSION.test(version)) return undefined;
  const parsed = Number(version);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}
