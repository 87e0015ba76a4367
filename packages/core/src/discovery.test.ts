import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { json, TokenServer } from '../../../test/support/token-server.js';
import { DiscoveryError } from './errors.js';
import { OAuth2Endpoint } from './oauth2-endpoint.js';
import type { DiscoverOptions } from './discovery.js';
import type { PrivateJwk } from './client-assertion.js';

const SECRET = 'client-secret-SENTINEL-d15c';

let server: TokenServer;
let origin: string;
/** Metadata documents served, by request path. */
let documents: Map<string, { status: number; body: unknown }>;

beforeAll(async () => {
  server = await TokenServer.start();
  origin = new URL(server.tokenUrl).origin;
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  documents = new Map();
  server.handler = (request, res) => {
    if (request.url === '/token') {
      json(res, 200, { access_token: 'access-token-value', token_type: 'Bearer', expires_in: 60 });
      return;
    }
    const document = documents.get(request.url);
    if (document === undefined) json(res, 404, { error: 'not_found' });
    else if (typeof document.body === 'string') res.writeHead(document.status).end(document.body);
    else json(res, document.status, document.body);
  };
});

/** Serves OIDC metadata for `issuer` at `path`, with the given members over the defaults. */
function serveMetadata(path: string, issuer: string, members: Record<string, unknown> = {}, status = 200): void {
  documents.set(path, {
    status,
    body: {
      issuer,
      token_endpoint: `${origin}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      ...members,
    },
  });
}

/** A fresh issuer per test (the cache is module-wide): a path nobody asked for before. */
let issuerCount = 0;
function newIssuer(): { issuer: string; path: string } {
  const path = `/tenant-${++issuerCount}`;
  return { issuer: `${origin}${path}`, path };
}

function metadataRequests(): string[] {
  return server.requests.filter((request) => request.url !== '/token').map((request) => request.url);
}

const jwk = { kty: 'EC', crv: 'P-256', kid: 'ec-1', x: 'x', y: 'y', d: 'PRIVATE-D-SENTINEL' } as PrivateJwk;

describe('OAuth2Endpoint.discover', () => {
  it('builds the endpoint from OpenID Connect metadata and authenticates as it supports', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer);
    const endpoint = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET });
    expect(endpoint.tokenUrl).toBe(`${origin}/token`);
    expect(endpoint.toJSON().authMethod).toBe('client_secret_basic');
    await endpoint.clientCredentials();
    expect(server.requests.at(-1)!.headers.authorization).toMatch(/^Basic /);
  });

  it('falls back to RFC 8414 metadata, inserting the well-known segment before the issuer path', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`/.well-known/oauth-authorization-server${path}`, issuer, {
      token_endpoint_auth_methods_supported: ['client_secret_post'],
    });
    const endpoint = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET });
    expect(metadataRequests()).toEqual([
      `${path}/.well-known/openid-configuration`,
      `/.well-known/oauth-authorization-server${path}`,
    ]);
    expect(endpoint.toJSON().authMethod).toBe('client_secret_post');
  });

  it('discovers an issuer without a path, with a trailing slash kept in the comparison', async () => {
    // The issuer is `origin/`: metadata at the root must name it with the slash.
    serveMetadata('/.well-known/openid-configuration', `${origin}/`);
    const endpoint = await OAuth2Endpoint.discover(`${origin}/`, {
      clientId: 'root-client',
      clientSecret: SECRET,
      metadataMaxAgeMs: 0,
    });
    expect(endpoint.tokenUrl).toBe(`${origin}/token`);
    const mismatch = await OAuth2Endpoint.discover(origin, { clientId: 'root-client', clientSecret: SECRET }).catch(
      (e: unknown) => e,
    );
    expect(mismatch).toBeInstanceOf(DiscoveryError);
    expect((mismatch as DiscoveryError).reason).toBe('issuer_mismatch');
  });

  it('refuses metadata naming another issuer, and uses nothing from it', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, 'https://attacker.example.com', {
      token_endpoint: 'https://attacker.example.com/token',
    });
    const error = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error).toMatchObject({ code: 'ERR_DISCOVERY', reason: 'issuer_mismatch', issuer });
    expect((error as Error).message).toContain('`https://attacker.example.com');
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('chooses private_key_jwt for a client key, and refuses a configured method the provider lacks, listing what it supports', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer);
    const keyed = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientKey: jwk });
    expect(keyed.toJSON().authMethod).toBe('private_key_jwt');

    const error = await OAuth2Endpoint.discover(issuer, {
      clientId: 'client',
      clientSecret: SECRET,
      authMethod: 'client_secret_jwt',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect((error as DiscoveryError).reason).toBe('unsupported_auth_method');
    expect((error as Error).message).toContain(
      "supports `client_secret_basic`, `client_secret_post`, `private_key_jwt` (token_endpoint_auth_methods_supported), not `authMethod: 'client_secret_jwt'`",
    );
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('assumes client_secret_basic when the metadata lists no methods (RFC 8414 default)', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer, {
      token_endpoint_auth_methods_supported: undefined,
    });
    await expect(OAuth2Endpoint.discover(issuer, { clientId: 'public-client' })).rejects.toMatchObject({
      reason: 'unsupported_auth_method',
      message: expect.stringContaining('not any of `none`'),
    });
    const endpoint = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET });
    expect(endpoint.toJSON().authMethod).toBe('client_secret_basic');
  });

  it('refuses a key whose algorithm the provider does not accept for client assertions', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer, {
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256'],
    });
    const error = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientKey: jwk }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ reason: 'unsupported_auth_method' });
    expect((error as Error).message).toContain('signed with `RS256`, `PS256`');
    expect((error as Error).message).not.toContain('PRIVATE-D-SENTINEL');
  });

  it.each<[string, (path: string, issuer: string) => void, string, string]>([
    ['no metadata anywhere', () => {}, 'not_found', 'answered 404'],
    [
      'metadata that is not JSON',
      (path) => documents.set(`${path}/.well-known/openid-configuration`, { status: 200, body: '<html>' }),
      'invalid_metadata',
      'is not JSON',
    ],
    [
      'metadata without token_endpoint',
      (path, issuer) =>
        serveMetadata(`${path}/.well-known/openid-configuration`, issuer, { token_endpoint: undefined }),
      'invalid_metadata',
      'no `token_endpoint`',
    ],
    [
      'methods that are not a list',
      (path, issuer) =>
        serveMetadata(`${path}/.well-known/openid-configuration`, issuer, {
          token_endpoint_auth_methods_supported: 'client_secret_basic',
        }),
      'invalid_metadata',
      '`token_endpoint_auth_methods_supported` is not an array of strings',
    ],
    [
      'a plain-http token endpoint on a remote host',
      (path, issuer) =>
        serveMetadata(`${path}/.well-known/openid-configuration`, issuer, {
          token_endpoint: 'http://idp.example.com/token',
        }),
      'invalid_metadata',
      'its `token_endpoint` is not usable',
    ],
  ])('fails with DiscoveryError for %s', async (_what, setUp, reason, message) => {
    const { issuer, path } = newIssuer();
    setUp(path, issuer);
    const error = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DiscoveryError);
    expect((error as DiscoveryError).reason).toBe(reason);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('does not keep a failed discovery: after a 503 the next call fetches again and succeeds', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer, {}, 503);
    const error = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ reason: 'unreachable', upstreamStatus: 503 });
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer);
    const endpoint = await OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET });
    expect(endpoint.tokenUrl).toBe(`${origin}/token`);
  });

  it('reuses one endpoint for equal options, fetching once, until metadataMaxAgeMs has passed', async () => {
    const { issuer, path } = newIssuer();
    serveMetadata(`${path}/.well-known/openid-configuration`, issuer);
    let clock = 1_000_000;
    const now = () => clock;
    const options = (): DiscoverOptions => ({
      clientId: 'client',
      clientSecret: SECRET,
      params: { resource: 'https://api.example.com' },
      metadataMaxAgeMs: 60_000,
      now,
    });
    const [first, concurrent] = await Promise.all([
      OAuth2Endpoint.discover(issuer, options()),
      OAuth2Endpoint.discover(issuer, options()),
    ]);
    const again = await OAuth2Endpoint.discover(issuer, options());
    expect(concurrent).toBe(first);
    expect(again).toBe(first);
    expect(metadataRequests()).toHaveLength(1);

    const otherClient = await OAuth2Endpoint.discover(issuer, { ...options(), clientId: 'other' });
    expect(otherClient).not.toBe(first);
    expect(metadataRequests()).toHaveLength(2);

    clock += 60_001;
    const later = await OAuth2Endpoint.discover(issuer, options());
    expect(later).not.toBe(first);
    expect(metadataRequests()).toHaveLength(3);
  });

  it.each<[string, string, Partial<DiscoverOptions>, string]>([
    ['a relative issuer', 'idp.example.com', {}, 'Expected `issuer` to be an absolute URL'],
    ['an issuer with a query', 'https://idp.example.com?tenant=1', {}, 'without credentials, query or fragment'],
    ['a remote http issuer', 'http://idp.example.com', {}, 'Expected `issuer` to be an https URL'],
    ['a tokenUrl', 'https://idp.example.com', { tokenUrl: 'https://idp.example.com/t' } as object, 'no `tokenUrl`'],
    ['a bad option', 'https://idp.example.com', { timeoutMs: 0 }, 'Expected `timeoutMs`'],
    ['a bad max age', 'https://idp.example.com', { metadataMaxAgeMs: -1 }, 'Expected `metadataMaxAgeMs`'],
  ])('refuses %s with a TypeError before fetching anything', (_what, issuer, options, message) => {
    expect(() => OAuth2Endpoint.discover(issuer, { clientId: 'client', clientSecret: SECRET, ...options })).toThrow(
      message,
    );
    expect(server.requests).toHaveLength(0);
  });
});
