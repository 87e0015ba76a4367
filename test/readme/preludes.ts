// Hidden preludes for README snippets that are deliberately partial: each
// declares what its snippet takes from the surrounding text (an app, a
// cache, a database), never what the snippet itself claims to show. A README
// marks a snippet with `<!-- prelude: name -->` above its fence.

/** What every snippet may use without declaring: the app's own data layer. */
const app = `
declare const db: {
  tokens: {
    find(key: string): Promise<import('@refreshkit/core').TokenSet | undefined>;
    upsert(key: string, tokens: import('@refreshkit/core').TokenSet): Promise<void>;
  };
};
`;

/** Snippets that use the Express quick start's imports and an endpoint's settings. */
const coreImports = `
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
declare const endpoint: OAuth2Endpoint;
declare const tokenUrl: string;
declare const clientId: string;
declare const clientSecret: string;
`;

/** The Koa quick start: a Koa app and the Express quick start's cache. */
const koaApp = `
import Koa from 'koa';
declare const app: Koa;
declare const cache: import('@refreshkit/core').TokenCache;
`;

/** The Fastify quick start: the Express quick start's cache, and `request.user` set by an auth plugin. */
const fastifyApp = `
declare const cache: import('@refreshkit/core').TokenCache;
declare module 'fastify' {
  interface FastifyRequest {
    user?: { id: string };
  }
}
`;

/** The Hono quick start: the Express quick start's cache, and the app's Env, with the user set by an auth middleware. */
const honoApp = `
declare const cache: import('@refreshkit/core').TokenCache;
type AppEnv = { Variables: { userId?: string } };
`;

/** The Express quick start's sign-in callback: the tokens it just received. */
const signedIn = `
declare const user: { id: string };
declare const accessToken: string;
declare const refreshToken: string;
declare const expiresAt: number;
declare global {
  namespace Express {
    interface Request {
      user?: { id: string };
      session: { signIn?: { codeVerifier: string; state: string } | undefined };
    }
  }
}
`;

/** The client-authentication section: an endpoint's settings and the app's own keys. */
const clientAuth = `
declare const tokenUrl: string;
declare const clientId: string;
declare const privateJwk: import('@refreshkit/core').PrivateJwk;
declare const cryptoKey: CryptoKey;
declare const keyVault: { current(): Promise<import('@refreshkit/core').PrivateJwk> };
`;

/** A cache made as in the quick starts. */
const cache = `
declare const cache: import('@refreshkit/core').TokenCache;
`;

/** The outbound client snippets: a cache and the key of the current user. */
const outbound = `
declare const cache: import('@refreshkit/core').TokenCache;
declare const userId: string;
`;

/** The DPoP section: an endpoint's settings and the DPoP key from the app's configuration. */
const dpop = `
declare const tokenUrl: string;
declare const clientId: string;
declare const clientSecret: string;
declare const config: { dpopKey: import('@refreshkit/core').DpopPrivateJwk };
`;

/** Preludes by name, each prefixed with {@link app}. */
export const PRELUDES: Readonly<Record<string, string>> = {
  cache: app + cache,
  'signed-in': app + signedIn,
  'core-imports': app + coreImports,
  'koa-app': app + koaApp,
  'client-auth': app + clientAuth,
  'fastify-app': app + fastifyApp,
  'hono-app': app + honoApp,
  outbound: app + outbound,
  dpop: app + dpop,
};

/** The prelude of a snippet with no marker. */
export const DEFAULT_PRELUDE = app;
