/**
 * Builds the HTTP request for a token-endpoint grant in the dialect a
 * provider speaks: client authentication (RFC 6749 §2.3.1), body encoding,
 * and parameter naming.
 */

/**
 * How the client authenticates to the token endpoint: its secret in HTTP
 * Basic or in the body (RFC 6749 §2.3.1), a JWT signed with its secret or
 * its private key (RFC 7523, OpenID Connect Core §9), or not at all.
 */
export type ClientAuthMethod =
  'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' | 'none';

/** The methods that authenticate with a signed client assertion. */
export function isAssertionMethod(method: ClientAuthMethod): method is 'client_secret_jwt' | 'private_key_jwt' {
  return method === 'client_secret_jwt' || method === 'private_key_jwt';
}
/** `client_assertion_type` of RFC 7523 JWT client authentication. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How the request body is encoded. */
export type BodyEncoding = 'form' | 'json';
/** How request parameter names are spelled. */
export type FieldNaming = 'snake_case' | 'camelCase';

/** The client's fixed settings for every request. */
export interface RequestDialect {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly authMethod: ClientAuthMethod;
  readonly bodyEncoding: BodyEncoding;
  readonly fieldNaming: FieldNaming;
  /** Extra parameters on every grant, with snake_case names. */
  readonly params: Readonly<Record<string, string>>;
}

/** A ready-to-send token request. */
export interface BuiltTokenRequest {
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The `Authorization` value, kept so errors can redact it. */
  readonly basicCredentials: string | undefined;
}

/** `refresh_token` → `refreshToken`. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 §2.3.1 requires for Basic credentials. */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/**
 * Builds headers and body for a grant. `grantParams` are snake_case
 * (`grant_type`, `refresh_token`, `scope`); the dialect renames them.
 * Credentials go either in the `Authorization` header or in the body,
 * never both. `clientAssertion` is the signed JWT of the assertion methods,
 * new for every request.
 */
export function buildTokenRequest(
  dialect: RequestDialect,
  grantParams: Record<string, string>,
  clientAssertion?: string,
): BuiltTokenRequest {
  const params: Record<string, string> = { ...dialect.params, ...grantParams };
  let basicCredentials: string | undefined;
  if (dialect.authMethod === 'client_secret_basic') {
    basicCredentials = `Basic ${btoa(`${formEncode(dialect.clientId)}:${formEncode(dialect.clientSecret ?? '')}`)}`;
  } else {
    params.client_id = dialect.clientId;
    if (dialect.authMethod === 'client_secret_post' && dialect.clientSecret !== undefined) {
      params.client_secret = dialect.clientSecret;
    }
    if (isAssertionMethod(dialect.authMethod) && clientAssertion !== undefined) {
      params.client_assertion_type = JWT_BEARER_ASSERTION_TYPE;
      params.client_assertion = clientAssertion;
    }
  }

  const named: [string, string][] = Object.entries(params).map(([name, value]) => [
    dialect.fieldNaming === 'camelCase' ? camelCase(name) : name,
    value,
  ]);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (basicCredentials !== undefined) headers.authorization = basicCredentials;
  let body: string;
  if (dialect.bodyEncoding === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(Object.fromEntries(named));
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(named).toString();
  }
  return { headers, body, basicCredentials };
}
