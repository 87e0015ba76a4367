import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration } from 'oidc-provider';
import type { TokenSet } from '@refreshkit/core';

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

const REDIRECT_URI = 'http://127.0.0.1/callback';

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

  /**
   * Signs `accountId` in through the authorization-code flow, headlessly:
   * the dev login and consent forms are submitted over HTTP, with
   * `prompt=consent` and `offline_access` so a refresh token is issued.
   */
  async login(accountId: string, client: SandboxClient = BASIC_CLIENT): Promise<TokenSet> {
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
        return this.#exchangeCode(code, client);
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

  async #exchangeCode(code: string, client: SandboxClient): Promise<TokenSet> {
    const sentAt = Date.now();
    const params = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (client.authMethod === 'client_secret_basic') headers.authorization = basic(client);
    else {
      params.set('client_id', client.clientId);
      params.set('client_secret', client.clientSecret);
    }
    const response = await fetch(this.tokenUrl, { method: 'POST', headers, body: params.toString() });
    const body = (await response.json()) as { access_token: string; refresh_token?: string; expires_in: number };
    if (!response.ok || body.refresh_token === undefined) throw new Error(`Code exchange failed (${response.status})`);
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: sentAt + body.expires_in * 1000,
    };
  }

  /** Starts a server on a free loopback port. */
  static async start(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
    const ttl = options.accessTokenTtlSeconds ?? 4;
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
        RefreshToken: 24 * 3600,
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
