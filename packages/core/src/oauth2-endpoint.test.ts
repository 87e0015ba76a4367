import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { json, TokenServer } from '../../../test/support/token-server.js';
import {
  InvalidTokenResponseError,
  ReauthenticationRequiredError,
  TokenEndpointConfigurationError,
  TokenEndpointUnavailableError,
} from './errors.js';
import { OAuth2Endpoint } from './oauth2-endpoint.js';
import type { OAuth2EndpointOptions } from './oauth2-endpoint-options.js';

const SECRET = 'client-secret-SENTINEL-7f3a';
const REFRESH = 'refresh-token-SENTINEL-91bc';
const ACCESS = 'access-token-SENTINEL-5d2e';

let server: TokenServer;
beforeAll(async () => {
  server = await TokenServer.start();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.handler = (_request, res) => json(res, 200, { access_token: ACCESS, token_type: 'Bearer', expires_in: 3600 });
});

/** Records the delays the endpoint asked for instead of waiting them out. */
function endpointWith(options: Partial<OAuth2EndpointOptions> = {}) {
  const delays: number[] = [];
  const endpoint = new OAuth2Endpoint({
    tokenUrl: server.tokenUrl,
    clientId: 'my-client',
    clientSecret: SECRET,
    sleep: async (ms) => void delays.push(ms),
    random: () => 1,
    ...options,
  });
  return { endpoint, delays };
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

describe('OAuth2Endpoint request dialects (the seeds)', () => {
  it('RefreshToken seed: public client sends client_id in the form body and no secret', async () => {
    const { endpoint } = endpointWith({ clientSecret: undefined });
    await endpoint.refresh(REFRESH);
    const [request] = server.requests;
    expect(request!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toBe(`grant_type=refresh_token&refresh_token=${REFRESH}&client_id=my-client`);
  });

  it('RefreshTokenRequest seed: camelCase JSON body with clientId, clientSecret, grantType, refreshToken, redirectUri', async () => {
    const { endpoint } = endpointWith({
      authMethod: 'client_secret_post',
      bodyEncoding: 'json',
      fieldNaming: 'camelCase',
      params: { redirect_uri: 'https://app.example.com/cb' },
    });
    await endpoint.refresh(REFRESH);
    const [request] = server.requests;
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBeUndefined();
    expect(JSON.parse(request!.body)).toEqual({
      redirectUri: 'https://app.example.com/cb',
      grantType: 'refresh_token',
      refreshToken: REFRESH,
      clientId: 'my-client',
      clientSecret: SECRET,
    });
  });

  it('Onev11oauth21 seed: snake_case form with client_id and client_secret in the body', async () => {
    const { endpoint } = endpointWith({ authMethod: 'client_secret_post' });
    await endpoint.refresh(REFRESH);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(server.requests[0]!.params).toEqual({
      grant_type: 'refresh_token',
      refresh_token: REFRESH,
      client_id: 'my-client',
      client_secret: SECRET,
    });
  });

  it('AuthTokenRequest seed: client_credentials with space-delimited scope, credentials by HTTP Basic', async () => {
    const { endpoint } = endpointWith({ scope: '/accounts.read /accounts.write' });
    await endpoint.clientCredentials();
    const [request] = server.requests;
    expect(request!.headers.authorization).toBe(basic('my-client', SECRET));
    expect(request!.body).toBe('grant_type=client_credentials&scope=%2Faccounts.read+%2Faccounts.write');
  });

  it('AuthTokenRequest seed: client_credentials with credentials in the body and a per-call scope', async () => {
    const { endpoint } = endpointWith({ authMethod: 'client_secret_post', scope: 'default' });
    await endpoint.clientCredentials({ scope: '/accounts.read' });
    expect(server.requests[0]!.params).toEqual({
      grant_type: 'client_credentials',
      scope: '/accounts.read',
      client_id: 'my-client',
      client_secret: SECRET,
    });
  });

  it('AuthTokenRequest seed: refresh_token grant by HTTP Basic sends no credentials in the body', async () => {
    const { endpoint } = endpointWith();
    await endpoint.refresh(REFRESH);
    expect(server.requests[0]!.headers.authorization).toBe(basic('my-client', SECRET));
    expect(server.requests[0]!.params).toEqual({ grant_type: 'refresh_token', refresh_token: REFRESH });
  });

  it('form-url-encodes id and secret before base64 for Basic (RFC 6749 §2.3.1)', async () => {
    const { endpoint } = endpointWith({ clientId: 'id with:colon', clientSecret: 'p@ss w/rd+%' });
    await endpoint.clientCredentials();
    expect(server.requests[0]!.headers.authorization).toBe(basic('id+with%3Acolon', 'p%40ss+w%2Frd%2B%25'));
  });

  it('sends resource and audience through params on client credentials', async () => {
    const { endpoint } = endpointWith({ params: { audience: 'https://api.example.com', resource: 'urn:api' } });
    await endpoint.clientCredentials();
    expect(server.requests[0]!.params).toEqual({
      audience: 'https://api.example.com',
      resource: 'urn:api',
      grant_type: 'client_credentials',
    });
  });
});

describe('OAuth2Endpoint responses', () => {
  it('PostTokenRefreshJsonResponseBody seed: camelCase response without expires_in, expiry from the JWT exp', async () => {
    const exp = Math.floor(Date.now() / 1000) + 900;
    const jwt = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;
    server.handler = (_r, res) =>
      json(res, 200, { accessToken: jwt, refreshToken: 'next', scope: 'a b', tokenType: 'Bearer' });
    const { endpoint } = endpointWith();
    expect(await endpoint.refresh(REFRESH)).toEqual({
      accessToken: jwt,
      refreshToken: 'next',
      scope: 'a b',
      tokenType: 'bearer',
      expiresAt: exp * 1000,
    });
  });

  it('uses defaultExpiresInMs when there is neither expires_in nor a JWT, counted from the send time', async () => {
    const { endpoint } = endpointWith({ defaultExpiresInMs: 600_000, now: () => 1_000 });
    server.handler = (_r, res) => json(res, 200, { accessToken: 'opaque', tokenType: 'bearer' });
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBe(601_000);
  });

  it('leaves expiry unknown when nothing says it', async () => {
    server.handler = (_r, res) => json(res, 200, { access_token: 'opaque' });
    const { endpoint } = endpointWith();
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBeUndefined();
  });

  it('accepts expires_in as a numeric string, counts it from the send time, less a second of rounding', async () => {
    let clock = 10_000;
    const { endpoint } = endpointWith({ now: () => clock });
    server.handler = (_r, res) => {
      clock += 5_000; // the answer takes five seconds to arrive
      json(res, 200, { access_token: 'a', token_type: 'BEARER', expires_in: '3600' });
    };
    const tokens = await endpoint.refresh(REFRESH);
    expect(tokens.expiresAt).toBe(10_000 + 3_599_000);
    expect(tokens.tokenType).toBe('bearer');
  });

  it('omits refreshToken when the server sent none (the cache keeps the old one)', async () => {
    const { endpoint } = endpointWith();
    expect((await endpoint.refresh(REFRESH)).refreshToken).toBeUndefined();
  });
});

describe('OAuth2Endpoint errors and retries', () => {
  it('maps invalid_grant to ReauthenticationRequiredError without retrying', async () => {
    server.handler = (_r, res) => json(res, 400, { error: 'invalid_grant', error_description: 'grant revoked' });
    const { endpoint } = endpointWith();
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthenticationRequiredError);
    expect(error).toMatchObject({
      reason: 'invalid_grant',
      upstreamStatus: 400,
      code: 'ERR_REAUTHENTICATION_REQUIRED',
    });
    expect((error as { status?: unknown }).status).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it.each(['invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'])(
    'maps %s to a terminal TokenEndpointConfigurationError',
    async (oauthError) => {
      server.handler = (_r, res) => json(res, oauthError === 'invalid_client' ? 401 : 400, { error: oauthError });
      const { endpoint } = endpointWith();
      const error = await endpoint.clientCredentials().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenEndpointConfigurationError);
      expect(error).toMatchObject({ oauthError, code: 'ERR_TOKEN_ENDPOINT_CONFIGURATION' });
      expect(server.requests).toHaveLength(1);
    },
  );

  it('retries 500s with growing jittered backoff, then gives up with TokenEndpointUnavailableError', async () => {
    server.handler = (_r, res) => json(res, 500, { error: 'server_error' });
    const { endpoint, delays } = endpointWith({ retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 } });
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
    expect(error).toMatchObject({ upstreamStatus: 500 });
    expect(server.requests).toHaveLength(4);
    expect(delays).toEqual([100, 200, 250]);
  });

  it('honours Retry-After in seconds on 503 and succeeds on the next attempt', async () => {
    server.handler = (_r, res, index) =>
      index === 0 ? json(res, 503, {}, { 'retry-after': '2' }) : json(res, 200, { access_token: 'a' });
    const { endpoint, delays } = endpointWith();
    expect((await endpoint.refresh(REFRESH)).accessToken).toBe('a');
    expect(delays).toEqual([2_000]);
  });

  it('honours Retry-After as an HTTP date on 429', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    server.handler = (_r, res, index) =>
      index === 0
        ? json(res, 429, {}, { 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' })
        : json(res, 200, { access_token: 'a' });
    const { endpoint, delays } = endpointWith({ now: () => now });
    await endpoint.clientCredentials();
    expect(delays).toEqual([3_000]);
  });

  it('gives up at once when Retry-After exceeds the cap, and reports the wait', async () => {
    server.handler = (_r, res) => json(res, 503, {}, { 'retry-after': '3600' });
    const { endpoint, delays } = endpointWith();
    await expect(endpoint.refresh(REFRESH)).rejects.toMatchObject({ retryAfterMs: 3_600_000 });
    expect(delays).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('stops retrying when the elapsed-time budget would be exceeded', async () => {
    server.handler = (_r, res) => json(res, 502, {});
    let clock = 0;
    const { endpoint } = endpointWith({
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
      retry: { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 1_000, maxElapsedMs: 2_500 },
    });
    await expect(endpoint.refresh(REFRESH)).rejects.toBeInstanceOf(TokenEndpointUnavailableError);
    expect(server.requests).toHaveLength(3);
  });

  it('treats a 200 with an HTML body as InvalidTokenResponseError and never retries it', async () => {
    server.handler = (_r, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    };
    const { endpoint } = endpointWith();
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toBe('Token endpoint answered 200 with a text/html body');
    expect(server.requests).toHaveLength(1);
  });

  it('refuses an oversized body', async () => {
    server.handler = (_r, res) => json(res, 200, { access_token: 'a', padding: 'x'.repeat(70_000) });
    const { endpoint } = endpointWith();
    await expect(endpoint.refresh(REFRESH)).rejects.toThrow('Token response is larger than 65536 bytes');
  });

  it('times out a hanging endpoint per attempt and retries', async () => {
    server.handler = () => {}; // never answers
    const { endpoint } = endpointWith({ timeoutMs: 50, retry: { maxAttempts: 2 } });
    await expect(endpoint.refresh(REFRESH)).rejects.toThrow('Token endpoint unreachable (no answer within 50 ms)');
    expect(server.requests).toHaveLength(2);
  });

  it('retries a connection reset', async () => {
    server.handler = (_r, res, index) =>
      index === 0 ? void res.socket?.destroy() : json(res, 200, { access_token: 'a' });
    const { endpoint } = endpointWith();
    expect((await endpoint.refresh(REFRESH)).accessToken).toBe('a');
    expect(server.requests).toHaveLength(2);
  });

  it('rejects with the signal reason when aborted', async () => {
    server.handler = () => {};
    const { endpoint } = endpointWith();
    const controller = new AbortController();
    const pending = endpoint.refresh(REFRESH, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled by caller')), 20);
    await expect(pending).rejects.toThrow('cancelled by caller');
  });

  it('refuses to follow a redirect with client credentials', async () => {
    server.handler = (_r, res) => {
      res.writeHead(307, { location: 'https://elsewhere.example/token' });
      res.end();
    };
    const { endpoint } = endpointWith();
    await expect(endpoint.refresh(REFRESH)).rejects.toBeInstanceOf(TokenEndpointConfigurationError);
  });
});

describe('OAuth2Endpoint lost responses', () => {
  it('re-presents the old refresh token at once; a server with a reuse grace period answers with the rotated set', async () => {
    server.handler = (request, res, index) => {
      expect(request.params.refresh_token).toBe(REFRESH);
      if (index === 0) return void res.socket?.destroy(); // rotated server-side, answer lost
      json(res, 200, { access_token: 'a2', refresh_token: 'rotated', expires_in: 60 });
    };
    const { endpoint, delays } = endpointWith();
    expect((await endpoint.refresh(REFRESH)).refreshToken).toBe('rotated');
    expect(delays).toHaveLength(1);
  });

  it('surfaces ReauthenticationRequiredError when a strict server refuses the re-presented token', async () => {
    server.handler = (_request, res, index) =>
      index === 0 ? void res.socket?.destroy() : json(res, 400, { error: 'invalid_grant' });
    const { endpoint } = endpointWith();
    await expect(endpoint.refresh(REFRESH)).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(server.requests).toHaveLength(2);
  });
});

describe('OAuth2Endpoint secrets', () => {
  it('redacts secrets the server echoes back, from messages, inspect and JSON', async () => {
    const errors: unknown[] = [];
    const echoes = [
      (res: Parameters<typeof json>[0]) =>
        json(res, 400, { error: 'invalid_grant', error_description: `token ${REFRESH} with ${SECRET} rejected` }),
      (res: Parameters<typeof json>[0]) =>
        json(res, 401, { error: 'invalid_client', error_description: `bad secret ${encodeURIComponent(SECRET)}` }),
      (res: Parameters<typeof json>[0]) => json(res, 200, { access_token: ACCESS, token_type: 'mac' }),
      (res: Parameters<typeof json>[0]) => json(res, 200, { access_token: ACCESS, expires_in: 'soon' }),
      (res: Parameters<typeof json>[0]) =>
        json(res, 503, { error: 'temporarily_unavailable', error_description: `retry ${REFRESH}` }),
    ];
    for (const echo of echoes) {
      server.handler = (_r, res) => echo(res);
      const { endpoint } = endpointWith({ retry: { maxAttempts: 1 } });
      errors.push(await endpoint.refresh(REFRESH).catch((e: unknown) => e));
    }
    expect(errors.every((e) => e instanceof Error)).toBe(true);
    const surfaces = errors.flatMap((e) => [
      (e as Error).message,
      (e as Error).stack ?? '',
      inspect(e, { depth: 5 }),
      inspect(e, { depth: 5, showHidden: true }),
      JSON.stringify(e),
    ]);
    for (const text of surfaces) {
      expect(text).not.toContain(REFRESH);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(ACCESS);
    }
    expect((errors[0] as Error).message).toContain('[REDACTED]');
  });

  it('keeps the client secret out of inspect and JSON of the endpoint', () => {
    const { endpoint } = endpointWith();
    expect(inspect(endpoint)).not.toContain(SECRET);
    expect(JSON.stringify(endpoint)).not.toContain(SECRET);
    expect(inspect(endpoint)).toContain('my-client');
  });
});

describe('OAuth2Endpoint options', () => {
  it.each<[string, Partial<OAuth2EndpointOptions>, string]>([
    ['http on a public host', { tokenUrl: 'http://idp.example.com/token' }, 'Expected `tokenUrl` to be an https URL'],
    ['a relative URL', { tokenUrl: '/token' }, 'Expected `tokenUrl` to be an absolute URL'],
    ['no client id', { clientId: '' }, 'Expected `clientId` to be a non-empty string'],
    ['a secret with authMethod none', { authMethod: 'none' }, 'Expected `clientSecret` to be absent'],
    [
      'basic without a secret',
      { clientSecret: undefined, authMethod: 'client_secret_basic' },
      'Expected `clientSecret` to be a non-empty string',
    ],
    ['an unknown auth method', { authMethod: 'private_key_jwt' as 'none' }, 'Expected `authMethod` to be one of'],
    ['an unknown body encoding', { bodyEncoding: 'xml' as 'json' }, 'Expected `bodyEncoding` to be one of'],
    [
      'a non-string param',
      { params: { audience: 5 as unknown as string } },
      'Expected `params.audience` to be a string',
    ],
    ['a zero timeout', { timeoutMs: 0 }, 'Expected `timeoutMs` to be an integer from 1 to 600000'],
    ['too many attempts', { retry: { maxAttempts: 11 } }, 'Expected `retry.maxAttempts` to be an integer from 1 to 10'],
  ])('rejects %s', (_name, override, message) => {
    expect(() => endpointWith(override)).toThrow(message);
  });

  it('never shows the secret in an option error', () => {
    expect(() => endpointWith({ authMethod: 'none' })).not.toThrow(SECRET);
    expect(() => endpointWith({ clientSecret: 42 as unknown as string })).toThrow(
      'Expected `clientSecret` to be a non-empty string, got a value of type number',
    );
  });

  it('allows http on loopback and with the explicit opt-in', () => {
    expect(() => endpointWith({ tokenUrl: 'http://localhost:8080/token' })).not.toThrow();
    expect(() => endpointWith({ tokenUrl: 'http://idp.internal/token', allowInsecureHttp: true })).not.toThrow();
  });
});
