import type { TokenSet } from './token-set.js';

/** Options of one token-endpoint call. */
export interface EndpointCallOptions {
  /** Aborts the call (including its retries); it then rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

/** Options of a client-credentials grant. */
export interface ClientCredentialsOptions extends EndpointCallOptions {
  /** Space-delimited scopes to request; overrides the endpoint's configured `scope`. */
  readonly scope?: string;
}

/** Options of a refresh. */
export interface RefreshOptions extends EndpointCallOptions {
  /**
   * The token set whose refresh token is being presented. `OAuth2Endpoint`
   * carries from it what a refresh response cannot say: the grant's end
   * (`grantExpiresAt`), the expiry of a refresh token the server did not
   * rotate, and provider fields the server did not repeat (`extras`).
   */
  readonly previous?: TokenSet;
}

/** What the app's sign-in callback received, for the `authorization_code` grant. */
export interface AuthorizationCodeOptions extends EndpointCallOptions {
  /** The `code` query parameter of the callback. Single-use and short-lived: exchange it at once. */
  readonly code: string;
  /** The `redirect_uri` sent in the authorization request, exactly as sent (servers compare it byte for byte). */
  readonly redirectUri: string;
  /** The PKCE verifier kept (server-side) since the authorization request; see `createPkcePair`. */
  readonly codeVerifier?: string;
}

/**
 * What a `TokenCache` needs from a token endpoint. `OAuth2Endpoint` implements
 * it for real authorization servers; tests and unusual providers may supply
 * their own.
 */
export interface TokenEndpoint {
  /**
   * Exchanges a refresh token for a new token set (`refresh_token` grant).
   * A result without `refreshToken` means the old one stays valid.
   */
  refresh(refreshToken: string, options?: RefreshOptions): Promise<TokenSet>;
  /** Obtains a token set for the client itself (`client_credentials` grant). */
  clientCredentials(options?: ClientCredentialsOptions): Promise<TokenSet>;
  /**
   * Exchanges an authorization code for the grant's first token set
   * (`authorization_code` grant). Optional: the cache never calls it; the
   * app's sign-in callback does, then `cache.set`s the result.
   */
  authorizationCode?(options: AuthorizationCodeOptions): Promise<TokenSet>;
}
