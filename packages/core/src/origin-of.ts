/**
 * The origin of `target`, read without parsing when `target` is a string
 * that starts with one of `knownOrigins` followed by a `/`.
 *
 * That shortcut is exact, not a guess. Known origins are canonical (as
 * `URL#origin` prints them: lower case, no default port, no credentials, no
 * path), so none holds a character that could end or reinterpret the
 * authority, and the URL parser ends the authority at the first `/`. Any
 * other string (leading spaces, upper case, credentials, a default port, no
 * path) is parsed, as is a `URL`'s own origin read.
 *
 * @throws TypeError when `target` is not a valid URL.
 */
export function originOf(target: string | URL, knownOrigins: ReadonlySet<string>): string {
  if (typeof target !== 'string') return target.origin;
  const authorityEnd = target.indexOf('/', target.indexOf('://') + 3);
  if (authorityEnd > 0) {
    const prefix = target.slice(0, authorityEnd);
    if (knownOrigins.has(prefix)) return prefix;
  }
  return new URL(target).origin;
}
