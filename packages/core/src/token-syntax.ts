/**
 * What a token value may contain. Tokens end up in HTTP headers
 * (`Authorization: Bearer <access token>`) and in request bodies, logs of
 * lengths, and stores; a value `fetch` would refuse as a header makes
 * `fetch` throw an error that quotes the whole header, token included. So a
 * token that is not plain visible ASCII is refused where it enters, with a
 * message that names the field and never the value.
 *
 * The rule is RFC 6749 Appendix A (`access-token = 1*VSCHAR`, `refresh-token
 * = 1*VSCHAR`, VSCHAR = %x20-7E) without the space: a space inside a bearer
 * would split the `Authorization` credentials (RFC 6750 §2.1), and leading or
 * trailing spaces are trimmed by `Headers`, silently changing the token. It
 * is looser than RFC 6750's `b64token` on purpose: real providers issue
 * access tokens with `!` and other visible characters (Salesforce's
 * `00D...!AQ...`), and refusing those would break working grants.
 */
const TOKEN_SYNTAX = /^[\x21-\x7e]+$/;

/** Whether `value` is usable as an access or refresh token: one or more visible ASCII characters (%x21-7E). */
export function isValidTokenValue(value: string): boolean {
  return TOKEN_SYNTAX.test(value);
}

/** The rule, for error messages: says what is allowed, never what was received. */
export const TOKEN_SYNTAX_DESCRIPTION = 'visible ASCII characters only (no spaces, control characters or non-ASCII)';
