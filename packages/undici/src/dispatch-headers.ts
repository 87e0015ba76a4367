import type { Dispatcher } from 'undici';

/** Header values as undici accepts them in a plain object. */
export type HeaderRecord = Record<string, string | string[]>;

/**
 * The headers of a dispatch as a new plain object, in any of the shapes
 * undici accepts (object, flat `[name, value, ...]` array, array of pairs,
 * `Headers` or another iterable of pairs). The header `named` (lower case)
 * is left out and its value returned apart.
 */
export function copyHeaders(
  headers: Dispatcher.DispatchOptions['headers'],
  named: string,
): { headers: HeaderRecord; namedValue: string | undefined } {
  const copy: HeaderRecord = {};
  let namedValue: string | undefined;
  const add = (name: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    const lower = name.toLowerCase();
    if (lower === named) namedValue = String(value);
    else copy[name] = Array.isArray(value) ? value.map(String) : String(value);
  };
  if (headers === undefined || headers === null) return { headers: copy, namedValue };
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0]))
      for (const [name, value] of headers as unknown as [string, string][]) add(name, value);
    else for (let i = 0; i < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  return { headers: copy, namedValue };
}

/** The headers of a hop to another origin, or of a hop that no longer carries a body. */
export function withoutHeaders(headers: HeaderRecord, matches: (lowerName: string) => boolean): HeaderRecord {
  const copy: HeaderRecord = {};
  for (const [name, value] of Object.entries(headers)) if (!matches(name.toLowerCase())) copy[name] = value;
  return copy;
}
