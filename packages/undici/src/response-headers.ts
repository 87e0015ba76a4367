import type { IncomingHttpHeaders } from 'node:http';

/**
 * Reads the header `lowerName` out of a response's headers: undefined when
 * absent, an array when repeated.
 */
export type HeaderReader<Headers> = (headers: Headers, lowerName: string) => string | string[] | undefined;

/** Reads a header out of the object undici's handler API hands over. */
export const readParsedHeader: HeaderReader<IncomingHttpHeaders> = (headers, lowerName) => headers[lowerName];

/** Response headers as undici's callback API hands them over: name, value, name, value (latin1). */
export type RawHeaders = readonly (Buffer | string)[];

/**
 * Reads a header out of raw name/value pairs, as undici would parse them,
 * without converting the others: it runs only for a redirect, a 401 or a
 * DPoP answer.
 */
export const readRawHeader: HeaderReader<RawHeaders> = (raw, lowerName) => {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && latin1(name).toLowerCase() === lowerName) values.push(latin1(raw[i + 1]!));
  }
  return values.length > 1 ? values : values[0];
};

function latin1(text: Buffer | string): string {
  return typeof text === 'string' ? text : text.toString('latin1');
}
