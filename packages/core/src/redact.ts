/** What replaces a secret in any text refreshkit surfaces. */
export const REDACTED = '[REDACTED]';

/** Shortest value treated as a secret; shorter strings would redact ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** The longest text one character of a secret can take once escaped (`%F0%9F%98%80` or `\ud83d\ude00` for two code units). */
const MAX_ESCAPED_LENGTH_PER_UNIT = 12;

/** JSON's short escapes (RFC 8259 §7); `\/` is the one PHP and others emit for every slash. */
const JSON_SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '/': '\\/',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** A regex source matching one hex digit in either case. */
function hexDigit(digit: string): string {
  const lower = digit.toLowerCase();
  const upper = digit.toUpperCase();
  return lower === upper ? lower : `[${lower}${upper}]`;
}

function hexByte(value: number, width: number): string {
  return [...value.toString(16).padStart(width, '0')].map(hexDigit).join('');
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

const encoder = new TextEncoder();

/**
 * A regex source matching one character of a secret in every form a server
 * may echo it: as is, JSON-escaped (`\/`, `\n`, `\u00XX` in either case,
 * surrogate pairs), percent-encoded (each UTF-8 byte, either case, also
 * encoded twice as `%25XX`) and form-encoded (`+` for a space). Each
 * character may take a different form, as encoders mix them.
 */
function characterPattern(character: string): string {
  const forms = [escapeRegex(character)];
  const short = JSON_SHORT_ESCAPES[character];
  if (short !== undefined) forms.push(escapeRegex(short));
  let units = '';
  for (let i = 0; i < character.length; i++) units += `\\\\u${hexByte(character.charCodeAt(i), 4)}`;
  forms.push(units);
  const bytes = [...encoder.encode(character)];
  forms.push(bytes.map((byte) => `%(?:25)?${hexByte(byte, 2)}`).join(''));
  if (character === ' ') forms.push('\\+');
  return `(?:${forms.join('|')})`;
}

/** A regex source matching `secret` in any of the forms of {@link characterPattern}. */
function secretPattern(secret: string): string {
  let pattern = '';
  for (const character of secret) pattern += characterPattern(character);
  return pattern;
}

/**
 * Replaces every occurrence of each secret in `text` with `[REDACTED]`,
 * whatever form the server echoed it in: as sent, JSON-escaped,
 * percent-encoded or form-encoded, or any mix of these character by
 * character.
 *
 * With `maxLength`, returns at most that many characters and reads only as
 * much of `text` as can reach them, so a huge body costs no more than a small
 * one. Every occurrence that starts within the result is redacted whole.
 */
export function redact(text: string, secrets: Iterable<string | undefined>, maxLength = Infinity): string {
  const unique = new Set<string>();
  for (const secret of secrets) if (secret !== undefined && secret.length >= MIN_SECRET_LENGTH) unique.add(secret);
  if (unique.size === 0) return text.slice(0, maxLength);
  // Longest first: a secret that begins another must not leave the other's tail behind.
  const sorted = [...unique].sort((a, b) => b.length - a.length);
  const longestEscaped = sorted[0]!.length * MAX_ESCAPED_LENGTH_PER_UNIT;
  // Each redaction yields REDACTED.length characters of output, so at most
  // maxLength / REDACTED.length of them can land in the result; the input that
  // can reach the result is the result's length plus that many whole matches,
  // plus one more that starts inside and must be seen to its end.
  const readable =
    maxLength === Infinity
      ? text
      : text.slice(0, maxLength + (Math.ceil(maxLength / REDACTED.length) + 1) * longestEscaped);
  const pattern = new RegExp(sorted.map(secretPattern).join('|'), 'g');
  return readable.replace(pattern, REDACTED).slice(0, maxLength);
}

/** Makes upstream text safe to put in a message: one line, printable, capped. */
export function sanitize(text: string, maxLength: number): string {
  // eslint-disable-next-line no-control-regex
  const oneLine = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 3)}...` : oneLine;
}
