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
  refresh(refreshToken: string, options?: EndpointCallOptions): Promise<TokenSet>;
  /** Obtains a token set for the client itself (`client_credentials` grant). */
  clientCredentials(options?: ClientCredentialsOptions): Promise<TokenSet>;
}
