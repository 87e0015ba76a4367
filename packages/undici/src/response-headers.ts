import type { IncomingHttpHeaders } from 'node:http';

/**
 * Reads the header `lowerName` out of a response's headers: undefined when
 * absent, an array when repeated.
 */
export type HeaderReader<Headers> = (headers: Headers, lowerName: string) => string | string[] | undefined;

/** Reads a header out of the object undici's handler API hands over. */
export const readParsedHeader: HeaderReader<IncomingHttpHeaders> = (headers, lowerName) => headers[lowerName];

/**
 * Response headers as undici's callback API hands them over: name, value,
 * name, value (latin1). A value is an array when a controller-API
 * interceptor below has turned a repeated header into one entry.
 */
export type RawHeaders = readonly (Buffer | string | readonly (Buffer | string)[])[];

/**
 * Reads a header out of raw name/value pairs, as undici would parse them,
 * without converting the others: it runs only for a redirect, a 401 or a
 * DPoP answer.
 */
export const readRawHeader: HeaderReader<RawHeaders> = (raw, lowerName) => {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (typeof name !== 'string' && !Buffer.isBuffer(name)) continue;
    if (name.length !== lowerName.length || latin1(name).toLowerCase() !== lowerName) continue;
    const value = raw[i + 1]!;
    if (typeof value === 'string' || Buffer.isBuffer(value)) values.push(latin1(value));
    else for (const item of value) values.push(latin1(item));
  }
  return values.length > 1 ? values : values[0];
};

function latin1(text: Buffer | string): string {
  return typeof text === 'string' ? text : text.toString('latin1');
}
