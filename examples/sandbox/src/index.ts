export {
  AuthorizationServer,
  BASIC_CLIENT,
  POST_CLIENT,
  RESOURCE_SERVER_CLIENT,
  type AuthorizationServerOptions,
  type AuthorizationServerStats,
  type AuthorizeOptions,
  REDIRECT_URI,
  type SandboxClient,
} from './authorization-server.js';
export { ProtectedApi, type ProtectedApiOptions } from './protected-api.js';
export { sandboxCache } from './sandbox-cache.js';
