export { TokenCache } from './token-cache.js';
export type {
  CacheGrant,
  GetAccessTokenOptions,
  GrantHealthEvent,
  KeepAliveOptions,
  RefreshReason,
  RefreshSettlement,
  RefreshStep,
  Settlement,
  SweepResult,
  TokenCacheEvents,
  TokenCacheOptions,
  TokenCacheStats,
} from './token-cache-options.js';
export type { GrantFailure, GrantHealth, GrantState } from './grant-health.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export type { MaybePromise, StoreLock, StoreReadOptions, TokenRecord, TokenStore } from './token-store.js';
export type {
  AuthorizationCodeOptions,
  ClientCredentialsOptions,
  EndpointCallOptions,
  RefreshOptions,
  TokenEndpoint,
} from './token-endpoint.js';
export { toTokenSet, type TokenSet } from './token-set.js';
export { MAX_EXTRAS_BYTES, type JsonValue, type TokenExtras } from './token-extras.js';
export { createPkcePair, pkceChallengeOf, type PkcePair } from './pkce.js';
export type { RefreshTokenLifetime } from './refresh-token-lifetime.js';
export {
  CorruptRecordError,
  DiscoveryError,
  DpopKeyMismatchError,
  DpopProofRequiredError,
  InvalidTokenResponseError,
  OriginNotAllowedError,
  ReauthenticationRequiredError,
  RefreshkitError,
  StoreUnavailableError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
  type DiscoveryFailure,
  type ReauthenticationReason,
  type RefreshkitErrorCode,
  type RefreshkitErrorOptions,
  type UpstreamErrorOptions,
  type UpstreamResponseSummary,
} from './errors.js';
export { OAuth2Endpoint } from './oauth2-endpoint.js';
export type { OAuth2EndpointOptions, RetryOptions } from './oauth2-endpoint-options.js';
export type { BodyEncoding, ClientAuthMethod, FieldNaming } from './token-request.js';
export type { DiscoverOptions } from './discovery.js';
export type { ClientCryptoKey, ClientKey, ClientKeyProvider, PrivateJwk } from './client-assertion.js';
export type { JwsAlgorithm } from './jwk-signing.js';
export type { DpopOptions } from './dpop-prover.js';
export type { DpopKey, DpopPrivateJwk } from './dpop-key.js';
