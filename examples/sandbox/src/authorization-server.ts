import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration } from 'oidc-provider';
import {
  createPkcePair,
  OAuth2Endpoint,
  type JsonValue,
  type OAuth2EndpointOptions,
  type TokenSet,
} from '@refreshkit/core';

/** A confidential client registered with the embedded authorization server. */
export interface SandboxClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
}

/** Options of {@link AuthorizationServer.start}. */
export interface AuthorizationServerOptions {
  /** Lifetime of access tokens (user and client-credentials), in seconds. @default 4 */
  readonly accessTokenTtlSeconds?: number;
  /**
   * Idle lifetime of refresh tokens, in seconds: rotation is always on and
   * each rotated refresh token lives this long again, so a grant unused for
   * longer is dead, as with Microsoft's 90 days or Xero's 60.
   * @default 86_400 (a day)
   */
  readonly refreshTokenIdleSeconds?: number;
  /**
   * Whether token responses say when their refresh token expires
   * (`refresh_token_expires_in`, as Microsoft, GitHub and Zoom send it).
   * Off, a client must know the lifetime from configuration.
   * @default true
   */
  readonly announceRefreshTokenExpiry?: boolean;
  /**
   * When set, token responses carrying a refresh token suggest refreshing
   * after this many seconds (`refresh_in`, as Microsoft sends it).
   */
  readonly refreshInSeconds?: number;
  /**
   * Provider-defined fields added to every user token response, as
   * Salesforce adds `instance_url`.
   * @default { instance_url: '<issuer>/instance' }
   */
  readonly extraTokenFields?: Readonly<Record<string, JsonValue>>;
}

/** Options of {@link AuthorizationServer.authorize}. */
export interface AuthorizeOptions {
  /** The client signing the user in. @default BASIC_CLIENT */
  readonly client?: SandboxClient;
  /** The PKCE `code_challenge` (S256) to bind the code to; omit for no PKCE. */
  readonly codeChallenge?: string;
}

/** What the authorization server has seen, for assertions and the demo summary. */
export interface AuthorizationServerStats {
  /** Successful `refresh_token` grants. */
  refreshGrants: number;
  /** Successful `client_credentials` grants. */
  clientCredentialsGrants: number;
  /** Refresh tokens presented a second time (each one revokes its whole grant). */
  refreshTokenReuses: number;
  /** Failed grants of any kind. */
  grantErrors: number;
}

/** The two user-facing clients: one per client authentication method. */
export const BASIC_CLIENT: SandboxClient = {
  clientId: 'refreshkit-basic',
  clientSecret: 'sandbox-basic-secret-not-for-production',
  authMethod: 'client_secret_basic',
};
export const POST_CLIENT: SandboxClient = {
  clientId: 'refreshkit-post',
  clientSecret: 'sandbox-post-secret-not-for-production',
  authMethod: 'client_secret_post',
};
/** The client a resource server uses to introspect tokens. */
export const RESOURCE_SERVER_CLIENT: SandboxClient = {
  clientId: 'protected-api',
  clientSecret: 'sandbox-introspection-secret-not-for-production',
  authMethod: 'client_secret_basic',
};

/** The redirect URI every sandbox client registers. */
export const REDIRECT_URI = 'http://127.0.0.1/callback';

/**
 * A real OpenID Connect authorization server (`oidc-provider`) on a free
 * loopback port, with refresh-token rotation always on (its default rotates
 * only sometimes), short-lived access tokens, client credentials,
 * introspection and revocation, and its built-in dev login forms, which
 * {@link AuthorizationServer.login} drives over HTTP.
 */
export class AuthorizationServer {
  readonly stats: AuthorizationServerStats = {
    refreshGrants: 0,
    clientCredentialsGrants: 0,
    refreshTokenReuses: 0,
    grantErrors: 0,
  };
  readonly #server: Server;
  readonly #issuer: string;
  readonly #provider: Provider;

  private constructor(server: Server, issuer: string, provider: Provider) {
    this.#server = server;
    this.#issuer = issuer;
    this.#provider = provider;
    provider.on('grant.success', (ctx) => {
      const grantType = (ctx.oidc.params as { grant_type?: string } | undefined)?.grant_type;
      if (grantType === 'refresh_token') this.stats.refreshGrants++;
      if (grantType === 'client_credentials') this.stats.clientCredentialsGrants++;
    });
    provider.on('grant.error', (_ctx, error: { error_detail?: string }) => {
      this.stats.grantErrors++;
      if (error.error_detail === 'refresh token already used') this.stats.refreshTokenReuses++;
    });
    // A test or demo must not print the provider's own warnings for expected failures.
    provider.on('server_error', () => {});
  }

  /** `http://127.0.0.1:PORT`. */
  get issuer(): string {
    return this.#issuer;
  }

  /** The token endpoint. */
  get tokenUrl(): string {
    return `${this.#issuer}/token`;
  }

  /** The introspection endpoint (RFC 7662). */
  get introspectionUrl(): string {
    return `${this.#issuer}/token/introspection`;
  }

  /** The revocation endpoint (RFC 7009). */
  get revocationUrl(): string {
    return `${this.#issuer}/token/revocation`;
  }

  /** An {@link OAuth2Endpoint} for one of the sandbox's clients, in the dialect it is registered with. */
  endpointFor(client: SandboxClient = BASIC_CLIENT, options: Partial<OAuth2EndpointOptions> = {}): OAuth2Endpoint {
    return new OAuth2Endpoint({
      tokenUrl: this.tokenUrl,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      authMethod: client.authMethod,
      ...options,
    });
  }

  /**
   * Signs `accountId` in as an app would: a PKCE pair, the authorization
   * code flow ({@link AuthorizationServer.authorize}), and the code exchanged
   * by `OAuth2Endpoint.authorizationCode`, so the first token set is built
   * exactly like every refreshed one.
   */
  async login(
    accountId: string,
    client: SandboxClient = BASIC_CLIENT,
    endpointOptions: Partial<OAuth2EndpointOptions> = {},
  ): Promise<TokenSet> {
    const pkce = await createPkcePair();
    const code = await this.authorize(accountId, { client, codeChallenge: pkce.codeChallenge });
    return this.endpointFor(client, endpointOptions).authorizationCode({
      code,
      redirectUri: REDIRECT_URI,
      codeVerifier: pkce.codeVerifier,
    });
  }

  /**
   * Runs the browser's part of the authorization-code flow headlessly and
   * returns the code: the dev login and consent forms are submitted over
   * HTTP, with `prompt=consent` and `offline_access` so a refresh token is
   * issued.
   */
  async authorize(accountId: string, options: AuthorizeOptions = {}): Promise<string> {
    const { client = BASIC_CLIENT, codeChallenge } = options;
    const cookies = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
      const response = await fetch(url, { ...init, headers, redirect: 'manual' });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(';');
        const at = pair!.indexOf('=');
        cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
      await response.body?.cancel();
      return response;
    };

    const authorize = new URL(`${this.#issuer}/auth`);
    authorize.search = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid offline_access',
      prompt: 'consent',
      state: 'sandbox-state',
      ...(codeChallenge !== undefined && { code_challenge: codeChallenge, code_challenge_method: 'S256' }),
    }).toString();
    let response = await send(authorize.href);
    const prompts = ['login', 'consent'];
    for (let hops = 0; hops < 10; hops++) {
      const location = response.headers.get('location');
      if (location === null) throw new Error(`Login stopped at ${response.status} without a redirect`);
      const next = new URL(location, this.#issuer);
      if (next.href.startsWith(REDIRECT_URI)) {
        const code = next.searchParams.get('code');
        if (code === null) throw new Error(`Login failed: ${next.searchParams.get('error') ?? 'no code'}`);
        return code;
      }
      if (next.pathname.startsWith('/interaction/')) {
        const prompt = prompts.shift() ?? 'consent';
        response = await send(next.href, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ prompt, login: accountId, password: 'any' }).toString(),
        });
      } else {
        response = await send(next.href);
      }
    }
    throw new Error('Login did not finish within 10 redirects');
  }

  /** Revokes one token (access or refresh) at the authorization server. */
  async revoke(token: string, client: SandboxClient = BASIC_CLIENT): Promise<void> {
    const response = await fetch(this.revocationUrl, {
      method: 'POST',
      headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    if (!response.ok) throw new Error(`Revocation failed with ${response.status}`);
  }

  /**
   * Revokes one access token and nothing else. (oidc-provider's revocation
   * endpoint also revokes the refresh tokens of the grant; many servers do
   * not, and RFC 7009 allows both. This simulates the narrower kind, as
   * when an API's own policy rejects a token.)
   */
  async revokeAccessTokenOnly(token: string): Promise<void> {
    const accessToken = await this.#provider.AccessToken.find(token);
    if (accessToken === undefined) throw new Error('No such access token');
    await accessToken.destroy();
  }

  /** Introspects a token (RFC 7662) as the resource server. */
  async introspect(token: string): Promise<{ active: boolean; exp?: number; client_id?: string }> {
    const response = await fetch(this.introspectionUrl, {
      method: 'POST',
      headers: { authorization: basic(RESOURCE_SERVER_CLIENT), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    return (await response.json()) as { active: boolean; exp?: number };
  }

  /** Stops the server and closes its connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Starts a server on a free loopback port. */
  static async start(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
    const ttl = options.accessTokenTtlSeconds ?? 4;
    const refreshTtl = options.refreshTokenIdleSeconds ?? 24 * 3600;
    const announce = options.announceRefreshTokenExpiry ?? true;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const userClient = (client: SandboxClient): ClientMetadata => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      token_endpoint_auth_method: client.authMethod,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
    });
    const configuration: Configuration = {
      clients: [
        userClient(BASIC_CLIENT),
        userClient(POST_CLIENT),
        {
          client_id: RESOURCE_SERVER_CLIENT.clientId,
          client_secret: RESOURCE_SERVER_CLIENT.clientSecret,
          grant_types: [],
          response_types: [],
          redirect_uris: [],
        },
      ],
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        revocation: { enabled: true, allowedPolicy: async () => true },
      },
      rotateRefreshToken: true,
      ttl: {
        AccessToken: ttl,
        ClientCredentials: ttl,
        // A fixed number: each rotated refresh token lives this long again (an idle lifetime).
        RefreshToken: refreshTtl,
        Grant: 24 * 3600,
        Session: 3600,
        Interaction: 600,
        AuthorizationCode: 60,
        IdToken: 3600,
      },
      cookies: { keys: ['refreshkit-sandbox-cookie-key'] },
    };
    const provider = await quietly(async () => {
      const { default: OidcProvider } = await import('oidc-provider');
      return new OidcProvider(issuer, configuration);
    });
    const extraFields = options.extraTokenFields ?? { instance_url: `${issuer}/instance` };
    // Adds what real providers send beside the standard fields, to answers that carry a refresh token.
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.path !== '/token' || ctx.status !== 200 || typeof body?.refresh_token !== 'string') return;
      Object.assign(body, extraFields);
      if (options.refreshInSeconds !== undefined) body.refresh_in = options.refreshInSeconds;
      if (announce) {
        const refreshToken = await provider.RefreshToken.find(body.refresh_token);
        if (refreshToken !== undefined) body.refresh_token_expires_in = refreshToken.remainingTTL;
      }
    });
    server.on('request', provider.callback());
    return new AuthorizationServer(server, issuer, provider);
  }
}

function basic(client: SandboxClient): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(client.clientId)}:${encode(client.clientSecret)}`).toString('base64')}`;
}

/**
 * Runs `action` with oidc-provider's start-up warnings filtered out. They say
 * that the in-memory adapter, dev keys and dev login forms are for
 * development only, which is exactly what this sandbox is; any other
 * warning still shows.
 */
async function quietly<T>(action: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] !== 'string' || !args[0].startsWith('oidc-provider WARNING')) warn(...args);
  };
  try {
    return await action();
  } finally {
    console.warn = warn;
  }
}
