/**
 * A URL as error messages may show it: origin and path, never credentials
 * (`user:pass@`), query or fragment, which may hold secrets. Works on
 * strings that do not parse, too, so an invalid-URL message cannot echo
 * what it hides for valid ones.
 */
export function describeUrl(value: string): string {
  try {
    const url = new URL(value);
    return `${url.origin === 'null' ? url.protocol : url.origin}${url.pathname}`;
  } catch {
    return value.replace(/^([^:/?#]*:\/\/)[^/?#]*@/, '$1[credentials]@').replace(/[?#][^]*$/, '');
  }
}
