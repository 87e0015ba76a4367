import { OAuth2Endpoint, TokenCache, type TokenCacheOptions } from '@refreshkit/core';
import { BASIC_CLIENT, type AuthorizationServer, type SandboxClient } from './authorization-server.js';

/**
 * A user-token cache wired to the sandbox's token endpoint, allowed to send
 * bearers to `apiOrigin`: the set-up every example and the demo share.
 */
export function sandboxCache(
  authorizationServer: AuthorizationServer,
  apiOrigin: string,
  options: Partial<TokenCacheOptions> & { client?: SandboxClient } = {},
): TokenCache {
  const { client = BASIC_CLIENT, ...cacheOptions } = options;
  return new TokenCache({
    endpoint: new OAuth2Endpoint({
      tokenUrl: authorizationServer.tokenUrl,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      authMethod: client.authMethod,
    }),
    allowedOrigins: [apiOrigin],
    ...cacheOptions,
  });
}
