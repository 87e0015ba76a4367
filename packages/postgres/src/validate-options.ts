// The house message shape (``Expected `x` to be ..., got ...``), as core's
// validate.ts writes it; core does not export its helpers to sibling
// packages yet.

/**
 * Describes a value for an error message. A string that could be a URL or
 * hold credentials (`:`, `@`, `/`) is not shown, only its type.
 */
function describe(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return `\`${String(value)}\` (${type})`;
  }
  if (typeof value === 'string' && value.length <= 64 && !/[:@/]/.test(value)) return `\`${value}\` (string)`;
  return `a value of type ${type}`;
}

/** Builds the house-style `TypeError` for a bad option. */
export function invalid(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}

/** An integer option within `[min, max]`, or `fallback` when absent. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}
