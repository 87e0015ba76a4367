import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientMetadata, Configuration } from 'oidc-provider';
import { createPkcePair, type OAuth2Endpoint } from '@refreshkit/core';

/** The redirect URI every client of this server registers. */
export const CALLBACK = 'http://127.0.0.1/callback';

/** A client this server knows, with how it authenticates. */
export type RegisteredClient =
  | { readonly clientId: string; readonly method: 'private_key_jwt'; readonly publicKeys: readonly JsonWebKey[] }
  | {
      readonly clientId: string;
      readonly method: 'client_secret_jwt' | 'client_secret_basic';
      readonly clientSecret: string;
    }
  | { readonly clientId: string; readonly method: 'none' };

/** Options of {@link ClientAuthServer.start}. */
export interface ClientAuthServerOptions {
  readonly clients: readonly RegisteredClient[];
  /** `clientAuthMethods` of oidc-provider: what the token endpoint accepts (and the metadata lists). */
  readonly authMethods?: readonly string[];
  /** `enabledJWA.clientAuthSigningAlgValues` of oidc-provider. */
  readonly signingAlgorithms?: readonly string[];
  /** `features.dPoP` of oidc-provider (without it, its defaults: DPoP accepted, no nonces). A 32-byte `nonceSecret` turns nonces on. */
  readonly dPoP?: { readonly enabled?: boolean; readonly nonceSecret?: Uint8Array; readonly requireNonce?: boolean };
}

const INTROSPECTOR = { clientId: 'introspector', clientSecret: 'introspector-secret-for-tests-only' };

/**
 * A real oidc-provider on a free loopback port for client authentication by
 * signed JWT: clients registered for `private_key_jwt` (with their public
 * keys) or `client_secret_jwt`, discovery at its well-known location, the
 * refresh and client-credentials grants with rotation on, introspection,
 * and the dev login forms driven over HTTP by {@link ClientAuthServer.signIn}.
 */
export class ClientAuthServer {
  readonly #server: Server;
  readonly issuer: string;

  private constructor(server: Server, issuer: string) {
    this.#server = server;
    this.issuer = issuer;
  }

  /** The token endpoint. */
  get tokenUrl(): string {
    return `${this.issuer}/token`;
  }

  static async start(options: ClientAuthServerOptions): Promise<ClientAuthServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clients: ClientMetadata[] = options.clients.map((client) => ({
      client_id: client.clientId,
      token_endpoint_auth_method: client.method,
      ...(client.method === 'private_key_jwt'
        ? { jwks: { keys: client.publicKeys as never[] } }
        : client.method === 'none'
          ? {}
          : { client_secret: client.clientSecret }),
      // A public client cannot use the client-credentials grant.
      grant_types:
        client.method === 'none'
          ? ['authorization_code', 'refresh_token']
          : ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [CALLBACK],
    }));
    clients.push({
      client_id: INTROSPECTOR.clientId,
      client_secret: INTROSPECTOR.clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    });
    const configuration: Configuration = {
      clients,
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        ...(options.dPoP && {
          dPoP: {
            enabled: options.dPoP.enabled ?? true,
            ...(options.dPoP.nonceSecret && { nonceSecret: Buffer.from(options.dPoP.nonceSecret) }),
            requireNonce: () => options.dPoP?.requireNonce === true,
          },
        }),
      },
      ...(options.authMethods && { clientAuthMethods: [...options.authMethods] as never[] }),
      ...(options.signingAlgorithms && {
        enabledJWA: { clientAuthSigningAlgValues: [...options.signingAlgorithms] as never[] },
      }),
      rotateRefreshToken: true,
      ttl: { AccessToken: 60, ClientCredentials: 60, RefreshToken: 3600, Grant: 3600, Session: 3600 },
      cookies: { keys: ['client-auth-test-cookie-key'] },
    };
    const { default: Provider } = await import('oidc-provider');
    const warn = console.warn;
    const clone = globalThis.structuredClone;
    // oidc-provider warns that its dev keys, adapter and login forms are for development: exactly this use.
    console.warn = () => {};
    // oidc-provider copies static clients with `structuredClone`, which under Jest builds the copies in
    // Node's own realm: its `constructor === Object` test then calls every registered JWK set invalid.
    // A JSON copy is made in this realm (client metadata is plain JSON), and only while clients are read.
    globalThis.structuredClone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
    try {
      const provider = new Provider(issuer, configuration);
      provider.on('server_error', () => {});
      server.on('request', provider.callback());
    } finally {
      console.warn = warn;
      globalThis.structuredClone = clone;
    }
    return new ClientAuthServer(server, issuer);
  }

  /**
   * Signs `accountId` in through the dev login and consent forms over HTTP,
   * then exchanges the code with `endpoint` (so the exchange authenticates
   * as the endpoint is configured to), and returns the first token set.
   */
  async signIn(accountId: string, endpoint: OAuth2Endpoint) {
    const pkce = await createPkcePair();
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
    const start = new URL(`${this.issuer}/auth`);
    start.search = new URLSearchParams({
      client_id: endpoint.clientId,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: pkce.codeChallenge,
      code_challenge_method: 'S256',
    }).toString();
    let response = await send(start.href);
    const prompts = ['login', 'consent'];
    for (let hops = 0; hops < 10; hops++) {
      const location = response.headers.get('location');
      if (location === null) throw new Error(`Sign-in stopped at ${response.status}`);
      const next = new URL(location, this.issuer);
      if (next.href.startsWith(CALLBACK)) {
        const code = next.searchParams.get('code');
        if (code === null) throw new Error(`Sign-in failed: ${next.searchParams.get('error')}`);
        return endpoint.authorizationCode({ code, redirectUri: CALLBACK, codeVerifier: pkce.codeVerifier });
      }
      response = next.pathname.startsWith('/interaction/')
        ? await send(next.href, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ prompt: prompts.shift() ?? 'consent', login: accountId, password: 'x' }),
          })
        : await send(next.href);
    }
    throw new Error('Sign-in did not finish within 10 redirects');
  }

  /** Introspects a token (RFC 7662) as a resource server would. */
  async introspect(
    token: string,
  ): Promise<{ active: boolean; client_id?: string; sub?: string; token_type?: string; cnf?: { jkt?: string } }> {
    const response = await fetch(`${this.issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${btoa(`${INTROSPECTOR.clientId}:${INTROSPECTOR.clientSecret}`)}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    return (await response.json()) as {
      active: boolean;
      client_id?: string;
      sub?: string;
      token_type?: string;
      cnf?: { jkt?: string };
    };
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
