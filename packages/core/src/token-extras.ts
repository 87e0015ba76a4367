/**
 * A token response's provider-defined fields (Salesforce's `instance_url`,
 * OpenID Connect's `id_token`, Slack's `authed_user` and `team`, ...), kept
 * on the token set as `extras` with their wire names. They are stored with
 * the tokens by every store, so they must be plain JSON, and small: a record
 * is read on every cache miss and, in Redis, decrypted whole.
 */

/** A JSON value: what `extras` may hold at any depth. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Provider fields of a token set, wire names as sent. */
export type TokenExtras = Readonly<Record<string, JsonValue>>;

/**
 * Largest `extras`, in bytes of its UTF-8 JSON: 16 KiB. Real responses'
 * extra fields take well under 4 KiB (an `id_token` of 1-2 KiB is the bulk);
 * the limit keeps a misbehaving server or app from making every stored record
 * large.
 */
export const MAX_EXTRAS_BYTES = 16_384;

/** Deepest nesting accepted: real provider fields nest two or three levels; a limit keeps the walk off the stack's edge. */
export const MAX_EXTRAS_DEPTH = 32;

/**
 * Names under which a value is a credential (matched on the lower-cased
 * name): `id_token`, `idToken`, Slack's `authed_user.access_token`,
 * `client_secret`, `password`, `client_assertion`, `code`... Such values are
 * redacted from error text like tokens are. Over-matching costs nothing (a
 * `zip_code` redacted from an error message); under-matching leaks.
 */
const CREDENTIAL_NAME = /token|secret|passw|pwd|assertion|credential|signature|^sig$|code$|api_?key|^key$|verifier/;

/** Whether a field name marks its value as a credential. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name.toLowerCase());
}

const encoder = new TextEncoder();

/** Bytes of `value` as UTF-8 JSON. */
function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** A path as messages show it: `tokens.extras.team.members[3]`; names are the provider's field names, never values. */
function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key.slice(0, 64))}]`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : 'a non-finite number';
  if (typeof value !== 'object') return `a ${typeof value}`;
  const constructorName = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor
    ?.name;
  return typeof constructorName === 'string' && constructorName !== '' ? `a ${constructorName}` : 'an object';
}

/** Defines `key` on `target` as plain data, so a `__proto__` key stays a field and never becomes a prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const HOW_TO_FIX = 'pass plain JSON data (strings, finite numbers, booleans, null, arrays and plain objects)';

/** Copies and deep-freezes a JSON value, throwing at the first thing JSON cannot carry faithfully. */
function copyJson(
  value: unknown,
  path: string,
  depth: number,
  ancestors: Set<object>,
  budget: { nodes: number; readonly root: string },
): JsonValue {
  if (--budget.nodes < 0) throw tooLarge(budget.root);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    throw new TypeError(`Expected \`${path}\` to be JSON, got ${typeName(value)}: ${HOW_TO_FIX}`);
  }
  if (typeof value !== 'object') {
    throw new TypeError(`Expected \`${path}\` to be JSON, got ${typeName(value)}: ${HOW_TO_FIX}`);
  }
  if (ancestors.has(value)) {
    throw new TypeError(
      `Expected \`${path}\` to be JSON, got a reference to an enclosing object (a cycle): ${HOW_TO_FIX}`,
    );
  }
  if (depth >= MAX_EXTRAS_DEPTH) {
    throw new TypeError(
      `Expected \`${path}\` to be JSON nested at most ${MAX_EXTRAS_DEPTH} levels deep, got a value nested deeper than that`,
    );
  }
  if (!Array.isArray(value) && !isPlainObject(value)) {
    throw new TypeError(
      `Expected \`${path}\` to be JSON, got ${typeName(value)}: ${HOW_TO_FIX} (convert it first, e.g. a Date with toISOString())`,
    );
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const copy: JsonValue[] = [];
      for (let i = 0; i < value.length; i++)
        copy.push(copyJson(value[i], childPath(path, i), depth + 1, ancestors, budget));
      return Object.freeze(copy);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new TypeError(`Expected \`${path}\` to be JSON, got an object with symbol keys: ${HOW_TO_FIX}`);
    }
    const copy: Record<string, JsonValue> = {};
    for (const key of Object.keys(value)) {
      put(
        copy,
        key,
        copyJson((value as Record<string, unknown>)[key], childPath(path, key), depth + 1, ancestors, budget),
      );
    }
    return Object.freeze(copy);
  } finally {
    ancestors.delete(value);
  }
}

function tooLarge(name: string): TypeError {
  return new TypeError(
    `Expected \`${name}\` to be at most ${MAX_EXTRAS_BYTES} bytes as JSON, got more: keep only the fields the app needs (store large provider data in the app's own database)`,
  );
}

/**
 * Checks caller-supplied extras (from `set`, `load` or a custom endpoint)
 * and returns a deep frozen copy, so nothing the caller mutates later
 * changes what is stored.
 *
 * @throws TypeError naming the offending path (never a value) when `value`
 * is not a plain object of JSON data within {@link MAX_EXTRAS_BYTES} and
 * {@link MAX_EXTRAS_DEPTH}.
 */
export function toExtras(value: unknown, name: string): TokenExtras {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got =
      typeof value === 'string'
        ? 'a value of type string (not shown)'
        : Array.isArray(value)
          ? '`array`'
          : typeName(value);
    throw new TypeError(`Expected \`${name}\` to be a plain object of JSON fields, got ${got}`);
  }
  // Every JSON value takes at least one byte, so more nodes than bytes is too large whatever they hold.
  const copy = copyJson(value, name, 0, new Set(), { nodes: MAX_EXTRAS_BYTES, root: name }) as TokenExtras;
  if (jsonBytes(copy) > MAX_EXTRAS_BYTES) throw tooLarge(name);
  return copy;
}

/**
 * The extras of a parsed token response: every field not in `consumed`, in
 * the order sent. A server's answer is never refused over them, because by
 * then the server has probably rotated the refresh token: a field that is
 * too deep, or that does not fit beside the fields before it within
 * {@link MAX_EXTRAS_BYTES}, is dropped and the rest kept. Undefined when no
 * field is left.
 */
export function extrasFromResponse(
  body: Record<string, unknown>,
  consumed: ReadonlySet<string>,
): TokenExtras | undefined {
  const extras: Record<string, JsonValue> = {};
  let bytes = 2; // `{}`
  let count = 0;
  for (const key of Object.keys(body)) {
    if (consumed.has(key)) continue;
    let value: JsonValue;
    try {
      value = copyJson(body[key], 'extras', 1, new Set(), { nodes: MAX_EXTRAS_BYTES, root: 'extras' });
    } catch {
      continue;
    }
    const fieldBytes = jsonBytes(key) + 1 + jsonBytes(value) + (count > 0 ? 1 : 0);
    if (bytes + fieldBytes > MAX_EXTRAS_BYTES) continue;
    put(extras, key, value);
    bytes += fieldBytes;
    count++;
  }
  return count === 0 ? undefined : Object.freeze(extras);
}

/**
 * Merges the extras of a refresh response over the previous set's: a field
 * the server did not repeat (an `id_token` only sent at sign-in, Salesforce's
 * `instance_url` if a refresh omits it) stays, as a refresh token the server
 * did not rotate does. New fields win; old ones that no longer fit are dropped.
 */
export function mergeExtras(previous: TokenExtras | undefined, next: TokenExtras | undefined): TokenExtras | undefined {
  if (previous === undefined) return next;
  if (next === undefined) return previous;
  const merged = extrasFromResponse({ ...next }, new Set());
  const combined: Record<string, unknown> = { ...merged };
  for (const key of Object.keys(previous)) if (!Object.hasOwn(combined, key)) put(combined, key, previous[key]);
  return extrasFromResponse(combined, new Set());
}

/**
 * String values under credential-like names ({@link isCredentialName}) at any
 * depth, so error text can redact them like tokens. Bounded in depth and
 * count: it runs on untrusted bodies.
 */
export function credentialValuesIn(value: unknown): string[] {
  const found: string[] = [];
  let budget = 10_000;
  const visit = (node: unknown, depth: number): void => {
    if (typeof node !== 'object' || node === null || depth > MAX_EXTRAS_DEPTH || --budget < 0) return;
    for (const [key, child] of Object.entries(node)) {
      if (typeof child === 'string') {
        if (isCredentialName(key)) found.push(child);
      } else visit(child, depth + 1);
    }
  };
  visit(value, 0);
  return found;
}
