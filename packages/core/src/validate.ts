/**
 * Option and argument validation with one message shape, as in p-queue:
 * ``Expected `refreshWindowMs` to be a finite number >= 0, got `-1` (number)``.
 *
 * `secret: true` hides the value (only its type is shown), so a misplaced
 * token or client secret never reaches an error message.
 */
import { describeUrl } from './describe-url.js';

/**
 * A URL-like string as an error message may show it: as given when it has
 * nothing to hide, else by origin and path only, since userinfo, query and
 * fragment are where credentials travel.
 */
function describeUrlLike(value: string): string {
  if (!/[@?#]/.test(value)) return `\`${value.length > 64 ? `${value.slice(0, 61)}...` : value}\``;
  return `\`${describeUrl(value)}\` with its credentials, query or fragment not shown`;
}

/** Describes a value for an error message without revealing secrets. */
export function describe(value: unknown, secret = false): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  if (secret) return `a value of type ${type}`;
  let shown: string;
  if (typeof value === 'string' && value.includes('//')) return `${describeUrlLike(value)} (string)`;
  if (typeof value === 'string') shown = value.length > 64 ? `${value.slice(0, 61)}...` : value;
  else if (typeof value === 'function') shown = 'function';
  else if (typeof value === 'object' && value !== null) shown = Array.isArray(value) ? 'array' : 'object';
  else shown = String(value);
  return `\`${shown}\` (${type})`;
}

/** Builds the house-style `TypeError` for a bad option or argument. */
export function invalid(name: string, expected: string, value: unknown, secret = false): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value, secret)}`);
}

/** Asserts a finite number within `[min, max]`. */
export function assertNumberInRange(
  name: string,
  value: unknown,
  min: number,
  max = Infinity,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw invalid(name, `a finite number ${range}`, value);
  }
}

/** Asserts an integer within `[min, max]`. */
export function assertIntegerInRange(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value);
  }
}

/** An optional integer option within `[min, max]`, or `fallback` when it is absent. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  assertIntegerInRange(name, value, min, max);
  return value;
}

/** Asserts a non-empty string. */
export function assertNonEmptyString(name: string, value: unknown, secret = false): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, 'a non-empty string', value, secret);
}

/** Asserts a function. */
export function assertFunction(name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalid(name, 'a function', value);
}

/** Asserts one of a fixed set of strings. */
export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(name, `one of ${allowed.map((a) => `\`${a}\``).join(', ')}`, value);
  }
}

/**
 * Asserts a plain object (not null, not an array). A string in its place is
 * not shown: it is often a token, or a token set serialised as JSON.
 */
export function assertObject(name: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(name, 'an object', value, typeof value === 'string');
  }
}

/** Longest key accepted; keys name users or tenants, never documents. */
export const MAX_KEY_LENGTH = 512;

/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Asserts a usable cache key: a non-empty, well-formed string of at most 512
 * characters. Well-formed, because a store that encodes keys as UTF-8 turns
 * every lone surrogate into the same replacement character: two distinct
 * keys would share one record, and one user could read another's tokens.
 */
export function assertKey(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw invalid('key', `a non-empty string of at most ${MAX_KEY_LENGTH} characters`, value);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new TypeError(
      'Expected `key` to be well-formed Unicode, got a string with a lone surrogate (a broken UTF-16 pair): keys that differ only there would share one stored record',
    );
  }
}
