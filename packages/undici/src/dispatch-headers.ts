import type { Dispatcher } from 'undici';

/** Header values as undici accepts them in a plain object. */
export type HeaderRecord = Record<string, string | string[]>;

/** A dispatch's headers, split: the key header and `Authorization` apart, the rest in a new object. */
export interface SplitHeaders {
  /** Every header but the key header and `Authorization`. */
  readonly rest: HeaderRecord;
  /** The value of the key header, if any. */
  readonly key: string | undefined;
  /** The caller's own `Authorization`, if any: replaced by the bearer, kept for a call with no key. */
  readonly authorization: string | string[] | undefined;
}

const NONE: SplitHeaders = Object.freeze({ rest: Object.freeze({}), key: undefined, authorization: undefined });

/**
 * The headers of a dispatch, in any of the shapes undici accepts (object,
 * flat `[name, value, ...]` array, array of pairs, `Headers` or another
 * iterable of pairs), split in one pass into the header `keyHeader` (lower
 * case), `Authorization`, and a new object of the rest.
 */
export function splitHeaders(headers: Dispatcher.DispatchOptions['headers'], keyHeader: string): SplitHeaders {
  if (headers === undefined || headers === null) return NONE;
  const rest: HeaderRecord = {};
  let key: string | undefined;
  let authorization: string | string[] | undefined;
  const add = (name: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    const copied = Array.isArray(value) ? value.map(String) : String(value);
    const lower = name.toLowerCase();
    if (lower === keyHeader) key = String(value);
    else if (lower === 'authorization') authorization = copied;
    else rest[name] = copied;
  };
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0]))
      for (const [name, value] of headers as unknown as [string, string][]) add(name, value);
    else for (let i = 0; i < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  return { rest, key, authorization };
}

/** The headers of a hop to another origin, or of a hop that no longer carries a body. */
export function withoutHeaders(headers: HeaderRecord, matches: (lowerName: string) => boolean): HeaderRecord {
  const copy: HeaderRecord = {};
  for (const [name, value] of Object.entries(headers)) if (!matches(name.toLowerCase())) copy[name] = value;
  return copy;
}
