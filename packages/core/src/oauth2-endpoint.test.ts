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
    const { endpoint } = endpointWith({ clientSecret: undefined, authMethod: 'none' });
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
    expect((error as Error).message).toBe(`Token endpoint ${server.tokenUrl} answered 200 with a text/html body`);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses an oversized body', async () => {
    server.handler = (_r, res) => json(res, 200, { access_token: 'a', padding: 'x'.repeat(70_000) });
    const { endpoint } = endpointWith();
    await expect(endpoint.refresh(REFRESH)).rejects.toThrow(
      `Token endpoint ${server.tokenUrl} answered 200 with a body larger than 65536 bytes`,
    );
  });

  it('times out a hanging endpoint per attempt and retries', async () => {
    server.handler = () => {}; // never answers
    const { endpoint } = endpointWith({ timeoutMs: 50, retry: { maxAttempts: 2 } });
    await expect(endpoint.refresh(REFRESH)).rejects.toThrow(
      `Token endpoint ${server.tokenUrl} unreachable (no answer within 50 ms)`,
    );
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
      (res: Parameters<typeof json>[0]) => json(res, 200, { access_token: `${ACCESS}\r\n`, expires_in: 'soon' }),
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
    ['an unknown auth method', { authMethod: 'tls_client_auth' as 'none' }, 'Expected `authMethod` to be one of'],
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

describe('OAuth2Endpoint holds off after Retry-After (every caller, every key)', () => {
  it('after a 429 with Retry-After, 20 callers in the next second cause 1 endpoint call and fail fast with retryAt', async () => {
    server.handler = (_r, res) => json(res, 429, { error: 'slow_down' }, { 'retry-after': '3600' });
    let clock = 1_000_000;
    const { endpoint } = endpointWith({ now: () => clock });
    const first = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(TokenEndpointUnavailableError);
    // The server's own figure, and the capped hold (`retry.maxHoldMs`, 5 minutes by default).
    expect(first).toMatchObject({ retryAfterMs: 3_600_000, retryAt: 1_000_000 + 300_000 });
    const refused: unknown[] = [];
    for (let caller = 1; caller < 20; caller++) {
      clock += 50;
      const call =
        caller % 2 === 0 ? endpoint.refresh(`${REFRESH}-${caller}`) : endpoint.clientCredentials({ scope: 'x' });
      refused.push(await call.catch((e: unknown) => e));
    }
    expect(server.requests).toHaveLength(1);
    for (const error of refused) {
      expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
      expect((error as TokenEndpointUnavailableError).retryAt).toBe(1_300_000);
      expect((error as TokenEndpointUnavailableError).retryAfterMs).toBeLessThanOrEqual(300_000);
      expect((error as Error).message).toContain(server.tokenUrl);
    }
    expect((refused[18] as TokenEndpointUnavailableError).retryAfterMs).toBe(1_300_000 - clock);
  });

  it('holds off for every key of a TokenCache sharing the endpoint', async () => {
    server.handler = (_r, res) => json(res, 503, {}, { 'retry-after': '3600' });
    const { TokenCache } = await import('./token-cache.js');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const { endpoint } = endpointWith({ now: () => clock });
    const cache = new TokenCache({ endpoint, now: () => clock });
    for (let key = 0; key < 20; key++) {
      await cache.set(`user-${key}`, { accessToken: `a${key}`, refreshToken: `r${key}-xyz`, expiresAt: clock - 1 });
    }
    const errors: unknown[] = [];
    for (let key = 0; key < 20; key++) {
      clock += 50;
      errors.push(await cache.getAccessToken(`user-${key}`).catch((e: unknown) => e));
    }
    expect(server.requests).toHaveLength(1);
    expect(errors.every((e) => e instanceof TokenEndpointUnavailableError)).toBe(true);
    await cache.close();
  });

  it('calls the endpoint again once the hold is over, and a success ends it', async () => {
    server.handler = (_r, res, index) =>
      index === 0 ? json(res, 429, {}, { 'retry-after': '60' }) : json(res, 200, { access_token: 'a' });
    let clock = 0;
    const { endpoint } = endpointWith({ now: () => clock, retry: { maxAttempts: 1 } });
    await expect(endpoint.refresh(REFRESH)).rejects.toMatchObject({ retryAt: 60_000 });
    clock = 59_999;
    await expect(endpoint.refresh(REFRESH)).rejects.toMatchObject({ retryAfterMs: 1 });
    expect(server.requests).toHaveLength(1);
    clock = 60_000;
    expect((await endpoint.refresh(REFRESH)).accessToken).toBe('a');
    expect(server.requests).toHaveLength(2);
  });

  it('caps the hold at retry.maxHoldMs, and 0 turns the hold off', async () => {
    server.handler = (_r, res) => json(res, 429, {}, { 'retry-after': '3600' });
    let clock = 0;
    const capped = endpointWith({ now: () => clock, retry: { maxHoldMs: 10_000 } }).endpoint;
    await expect(capped.refresh(REFRESH)).rejects.toMatchObject({ retryAt: 10_000 });
    clock = 10_000;
    await expect(capped.refresh(REFRESH)).rejects.toMatchObject({ retryAfterMs: 3_600_000 });
    expect(server.requests).toHaveLength(2);

    server.requests.length = 0;
    const off = endpointWith({ now: () => clock, retry: { maxHoldMs: 0 } }).endpoint;
    await expect(off.refresh(REFRESH)).rejects.toMatchObject({ retryAt: undefined });
    await expect(off.refresh(REFRESH)).rejects.toMatchObject({ retryAfterMs: 3_600_000 });
    expect(server.requests).toHaveLength(2);
  });

  it('lets the answered call wait out a short Retry-After while other callers fail fast', async () => {
    server.handler = (_r, res, index) =>
      index === 0 ? json(res, 503, {}, { 'retry-after': '2' }) : json(res, 200, { access_token: 'a' });
    let clock = 0;
    let wake!: () => void;
    const asleep = new Promise<void>((resolve) => (wake = resolve));
    let sleeping!: () => void;
    const fellAsleep = new Promise<void>((resolve) => (sleeping = resolve));
    const { endpoint } = endpointWith({
      now: () => clock,
      sleep: async (ms) => {
        sleeping();
        await asleep;
        clock += ms;
      },
    });
    const waiting = endpoint.refresh(REFRESH);
    await fellAsleep;
    clock += 1_000;
    await expect(endpoint.refresh(REFRESH)).rejects.toMatchObject({ retryAfterMs: 1_000, retryAt: 2_000 });
    wake();
    expect((await waiting).accessToken).toBe('a');
    expect(server.requests).toHaveLength(2);
  });
});

describe('OAuth2Endpoint refuses tokens that are not valid header values', () => {
  it.each([
    ['CR LF', 'token\r\nX-Injected: yes'],
    ['LF', 'tok\nen-SENTINEL'],
    ['NUL', 'tok\u0000en-SENTINEL'],
    ['DEL', 'tok\u007fen-SENTINEL'],
    ['a space', 'tok en-SENTINEL'],
    ['a leading space', ' token-SENTINEL'],
    ['non-ASCII', 'tökën-SENTINEL'],
    ['a line separator', 'tok\u2028en-SENTINEL'],
    ['a tab', 'tok\ten-SENTINEL'],
  ])('rejects an access token with %s, never quoting it, keeping the rotated refresh token', async (_name, bad) => {
    server.handler = (_r, res) =>
      json(res, 200, { access_token: bad, refresh_token: 'rotated-SENTINEL-r', expires_in: 60 });
    const { endpoint } = endpointWith();
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toContain('`access_token` must hold visible ASCII characters only');
    expect((error as InvalidTokenResponseError).rotatedRefreshToken()).toBe('rotated-SENTINEL-r');
    for (const text of [
      (error as Error).message,
      inspect(error, { showHidden: true, getters: true, depth: 9 }),
      JSON.stringify(error),
    ]) {
      expect(text).not.toContain(bad);
      expect(text).not.toContain('SENTINEL');
    }
  });

  it('rejects a refresh token with control characters, never quoting it', async () => {
    server.handler = (_r, res) => json(res, 200, { access_token: 'fine', refresh_token: 'r\r\nSENTINEL' });
    const { endpoint } = endpointWith();
    const error = await endpoint.refresh(REFRESH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toContain('`refresh_token` must hold visible ASCII characters only');
    expect((error as InvalidTokenResponseError).rotatedRefreshToken()).toBeUndefined();
    expect(inspect(error, { showHidden: true, getters: true })).not.toContain('SENTINEL');
  });

  it('accepts the visible ASCII tokens real providers issue (Salesforce `!`, JWT, base64)', async () => {
    for (const token of ['00Dx0000000BV7z!AR8AQP0jITN80ESEsj5EbaZTFG0R', 'eyJ.eyJ.sig', 'a+b/c==', '~-._']) {
      server.handler = (_r, res) => json(res, 200, { access_token: token, refresh_token: token });
      const { endpoint } = endpointWith();
      expect(await endpoint.refresh(REFRESH)).toMatchObject({ accessToken: token, refreshToken: token });
    }
  });
});

describe('OAuth2Endpoint redacts every form of an echoed secret', () => {
  const SLASHED = 'refresh/token+SENTINEL/91bc';
  const json2 = (res: Parameters<typeof json>[0], status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  };
  const jsonEscaped = (value: string) => JSON.stringify(value).slice(1, -1).replace(/\//g, '\\/');
  const unicodeEscaped = (value: string) =>
    [...value].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`).join('');

  it.each<[string, (res: Parameters<typeof json>[0]) => void]>([
    ['the error field', (res) => json(res, 400, { error: SLASHED })],
    ['the error field of invalid_client', (res) => json(res, 401, { error: `invalid_client ${SECRET}` })],
    ['a 429 error field', (res) => json(res, 429, { error: `slow_down:${SLASHED}` })],
    [
      'a JSON-escaped echo (\\/)',
      (res) => json2(res, 400, `{"error":"invalid_request","error_description":"${jsonEscaped(SLASHED)}"}`),
    ],
    ['a \\u-escaped echo in error', (res) => json2(res, 400, `{"error":"${unicodeEscaped(SLASHED)}"}`)],
    [
      'a URL-encoded echo',
      (res) => json(res, 400, { error: 'invalid_request', error_description: encodeURIComponent(SLASHED) }),
    ],
    ['a form-encoded echo', (res) => json(res, 500, { error: new URLSearchParams({ t: SLASHED }).toString() })],
    [
      'a non-JSON echo of the form body',
      (res) => json2(res, 400, `bad request: refresh_token=${encodeURIComponent(SLASHED)}&x`),
    ],
    [
      'a 2xx content type',
      (res) => {
        res.writeHead(200, { 'content-type': `application/${SECRET}; charset=utf-8` });
        res.end('<html></html>');
      },
    ],
    [
      'the Basic credentials echoed',
      (res) => json(res, 401, { error: 'invalid_client', error_description: basic('my-client', SECRET).slice(6) }),
    ],
  ])('through %s', async (_name, answer) => {
    server.handler = (_r, res) => answer(res);
    const { endpoint } = endpointWith({ retry: { maxAttempts: 1 } });
    const error = await endpoint.refresh(SLASHED).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const response = (error as { response?: { body: string } }).response;
    const texts = [
      (error as Error).message,
      inspect(error, { showHidden: true, getters: true, depth: 9 }),
      JSON.stringify(error),
      response?.body ?? '',
      String((error as { oauthError?: unknown }).oauthError),
    ];
    const forms = [
      SLASHED,
      jsonEscaped(SLASHED),
      unicodeEscaped(SLASHED),
      encodeURIComponent(SLASHED),
      SECRET,
      'SENTINEL',
    ];
    for (const text of texts) for (const form of forms) expect(text).not.toContain(form);
    expect(texts.join(' ')).toContain('[REDACTED]');
  });
});

describe('OAuth2Endpoint keeps a rotated refresh token when other fields are unusable', () => {
  const raw = (text: string) => (_r: unknown, res: Parameters<typeof json>[0]) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };

  it.each([
    ['expires_in overflowing to Infinity', '1e400'],
    ['a negative expires_in', '-30'],
    ['an expires_in of more than ten years', '315360001'],
    ['a non-numeric expires_in', '"soon"'],
    ['an object expires_in', '{"v":1}'],
  ])('ignores %s: falls back to defaultExpiresInMs and keeps the new refresh token', async (_name, expiresIn) => {
    server.handler = raw(`{"access_token":"a2","refresh_token":"rotated","expires_in":${expiresIn}}`);
    const { endpoint } = endpointWith({ now: () => 5_000, defaultExpiresInMs: 60_000 });
    expect(await endpoint.refresh(REFRESH)).toEqual({
      accessToken: 'a2',
      refreshToken: 'rotated',
      tokenType: 'bearer',
      expiresAt: 65_000,
    });
  });

  it('falls back to the JWT exp when expires_in is unusable, and ignores an exp decades away', async () => {
    const jwt = (exp: number) => `e30.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;
    const now = Date.parse('2026-01-01T00:00:00Z');
    const { endpoint } = endpointWith({ now: () => now });
    server.handler = (_r, res) => json(res, 200, { access_token: jwt(now / 1000 + 600), expires_in: -1 });
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBe(now + 600_000);
    server.handler = (_r, res) => json(res, 200, { access_token: jwt(now / 1000 + 100 * 365 * 86_400) });
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBeUndefined();
  });

  it('ignores a scope that is not a string and a token_type that is odd but not another scheme', async () => {
    for (const [scope, tokenType] of [
      [42, 5],
      [{ a: 1 }, 'Bearer '],
      [null, 'weird'],
      [['a', 2], null],
    ]) {
      server.handler = (_r, res) =>
        json(res, 200, { access_token: 'a2', refresh_token: 'rotated', scope, token_type: tokenType });
      const { endpoint } = endpointWith();
      expect(await endpoint.refresh(REFRESH)).toEqual({
        accessToken: 'a2',
        refreshToken: 'rotated',
        tokenType: 'bearer',
      });
    }
  });

  it.each([
    ['token_type DPoP', { access_token: 'a2', token_type: 'DPoP' }],
    ['no access token', { access_token: '' }],
    ['an access token that is a number', { access_token: 12345 }],
  ])(
    'with %s throws InvalidTokenResponseError carrying the rotated refresh token, hidden from inspect and JSON',
    async (_name, body) => {
      server.handler = (_r, res) => json(res, 200, { ...body, refresh_token: 'rotated-SENTINEL-x' });
      const { endpoint } = endpointWith();
      const error = (await endpoint.refresh(REFRESH).catch((e: unknown) => e)) as InvalidTokenResponseError;
      expect(error).toBeInstanceOf(InvalidTokenResponseError);
      expect(error.rotatedRefreshToken()).toBe('rotated-SENTINEL-x');
      const texts = [
        error.message,
        error.stack,
        inspect(error, { showHidden: true, getters: true, depth: 9 }),
        JSON.stringify(error),
        JSON.stringify(
          Object.getOwnPropertyNames(error).map((n) => String((error as unknown as Record<string, unknown>)[n])),
        ),
      ];
      for (const text of texts) expect(text).not.toContain('SENTINEL');
    },
  );

  it('makes expires_in 0 and a JWT exp in the past an expiresAt that is already reached', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const { endpoint } = endpointWith({ now: () => now });
    server.handler = (_r, res) => json(res, 200, { access_token: 'a2', expires_in: 0 });
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBeLessThanOrEqual(now);
    const past = `e30.${Buffer.from(JSON.stringify({ exp: now / 1000 - 30 })).toString('base64url')}.sig`;
    server.handler = (_r, res) => json(res, 200, { access_token: past });
    expect((await endpoint.refresh(REFRESH)).expiresAt).toBe(now - 30_000);
  });
});

describe('OAuth2Endpoint names itself in errors and refuses secrets in its options', () => {
  it('refuses a clientSecret key that is present but undefined (an unset env var), pointing at authMethod none', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => endpointWith({ clientSecret: env.CLIENT_SECRET })).toThrow(
      "Expected `clientSecret` to be a non-empty string, got `undefined`: set it (is an environment variable unset?), or pass `authMethod: 'none'` for a public client without a secret",
    );
    expect(() => endpointWith({ clientSecret: '' })).toThrow("or pass `authMethod: 'none'`");
    expect(() => endpointWith({ clientSecret: undefined, authMethod: 'none' })).not.toThrow();
    const { clientSecret: _omitted, ...withoutSecret } = {
      tokenUrl: server.tokenUrl,
      clientId: 'c',
      clientSecret: 'x',
    };
    expect(() => new OAuth2Endpoint(withoutSecret)).not.toThrow();
  });

  it.each([
    ['https userinfo', 'https://admin:pa55-SENTINEL@idp.example.com/token'],
    ['http userinfo on a public host', 'http://admin:pa55-SENTINEL@idp.example.com/token'],
    ['userinfo in a URL that does not parse', 'https://admin:pa55-SENTINEL@idp example.com/token'],
    ['a client_secret in the query', 'https://idp.example.com/token?client_secret=pa55-SENTINEL'],
    ['a refresh token in the query', 'https://idp.example.com/token?refresh_token=pa55-SENTINEL'],
    ['an api key in the query', 'https://idp.example.com/token?x=1&API-Key=pa55-SENTINEL'],
    ['a query on a URL that does not parse', 'https://idp example.com/token?password=pa55-SENTINEL'],
  ])('refuses a tokenUrl with %s without echoing it', (_name, tokenUrl) => {
    const error = (() => {
      try {
        endpointWith({ tokenUrl });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error!.message).toMatch(/^Expected `tokenUrl` to be/);
    expect(error!.message).not.toContain('SENTINEL');
    expect(error!.message).not.toContain('admin');
  });

  it('accepts a query without secrets (Azure B2C `?p=`)', () => {
    expect(() => endpointWith({ tokenUrl: `${server.tokenUrl}?p=B2C_1_signin` })).not.toThrow();
  });

  it('names the endpoint by origin and path, never query, in every token-endpoint error', async () => {
    const tokenUrl = `${server.tokenUrl.replace('/token', '/oauth/token')}?p=B2C_1_policy`;
    const named = server.tokenUrl.replace('/token', '/oauth/token');
    const answers: ((res: Parameters<typeof json>[0]) => void)[] = [
      (res) => json(res, 401, { error: 'invalid_client' }),
      (res) => json(res, 400, { error: 'invalid_grant' }),
      (res) => json(res, 400, { error: 'weird' }),
      (res) => json(res, 500, {}),
      (res) => json(res, 429, {}, { 'retry-after': '1' }),
      (res) => json(res, 200, { token_type: 'mac', access_token: 'x' }),
      (res) => json(res, 200, { access_token: 'x', padding: 'y'.repeat(70_000) }),
      (res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html></html>');
      },
      (res) => {
        res.writeHead(302, { location: 'https://elsewhere.example/' });
        res.end();
      },
      (res) => void res.socket?.destroy(),
    ];
    for (const answer of answers) {
      server.handler = (_r, res) => answer(res);
      const { endpoint } = endpointWith({ tokenUrl, retry: { maxAttempts: 1, maxHoldMs: 0 } });
      const error = (await endpoint.refresh(REFRESH).catch((e: unknown) => e)) as Error;
      expect(error.message).toContain(`Token endpoint ${named} `);
      expect(error.message).not.toContain('B2C_1_policy');
    }
    const refused = async () => Promise.reject(new TypeError('fetch failed'));
    const { endpoint } = endpointWith({ tokenUrl, fetch: refused, retry: { maxAttempts: 1 } });
    await expect(endpoint.refresh(REFRESH)).rejects.toThrow(`Token endpoint ${named} unreachable (network error)`);
  });
});

describe('OAuth2Endpoint with a TokenCache: a rotation is never thrown away for a bad side field', () => {
  it('keeps the refresh token rotated in a 2xx whose expires_in overflows, and presents it on the next refresh', async () => {
    const { TokenCache } = await import('./token-cache.js');
    const clock = { time: Date.parse('2026-01-01T00:00:00Z') };
    const { endpoint } = endpointWith({ now: () => clock.time, defaultExpiresInMs: 600_000 });
    const cache = new TokenCache({ endpoint, now: () => clock.time });
    server.handler = (request, res, index) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"access_token":"access-${index + 1}","refresh_token":"rotated-${index + 1}","expires_in":1e400}`);
    };
    await cache.set('user', { accessToken: 'access-0', refreshToken: 'rotated-0', expiresAt: clock.time - 1 });
    expect(await cache.getAccessToken('user')).toBe('access-1');
    clock.time += 600_001;
    expect(await cache.getAccessToken('user')).toBe('access-2');
    expect(server.requests.map((r) => r.params.refresh_token)).toEqual(['rotated-0', 'rotated-1']);
    await cache.close();
  });

  it('stores the refresh token of a 2xx whose access token is unusable, and presents it on the next refresh', async () => {
    const { TokenCache } = await import('./token-cache.js');
    const saved: (string | undefined)[] = [];
    const { endpoint } = endpointWith();
    const cache = new TokenCache({ endpoint, save: (_key, tokens) => void saved.push(tokens.refreshToken) });
    server.handler = (_request, res, index) =>
      index === 0
        ? json(res, 200, { access_token: 'bad\r\ntoken', refresh_token: 'rotated-1', expires_in: 60 })
        : json(res, 200, { access_token: 'access-2', refresh_token: 'rotated-2', expires_in: 60 });
    await cache.set('user', { accessToken: 'access-0', refreshToken: 'rotated-0', expiresAt: Date.now() - 1 });
    await expect(cache.getAccessToken('user')).rejects.toBeInstanceOf(InvalidTokenResponseError);
    expect(await cache.getAccessToken('user')).toBe('access-2');
    expect(server.requests.map((r) => r.params.refresh_token)).toEqual(['rotated-0', 'rotated-1']);
    expect(saved).toEqual(['rotated-0', 'rotated-1', 'rotated-2']);
    await cache.close();
  });
});

describe('OAuth2Endpoint.authorizationCode', () => {
  const CODE = 'auth-code-SENTINEL-c0de';
  const VERIFIER = 'verifier-SENTINEL-0123456789abcdefghijklmnopqrstuvwxyz';
  const REDIRECT = 'https://app.example.com/callback';

  it('sends the authorization_code grant with code, redirect_uri and code_verifier, and Basic credentials', async () => {
    const { endpoint } = endpointWith();
    const tokens = await endpoint.authorizationCode({ code: CODE, redirectUri: REDIRECT, codeVerifier: VERIFIER });
    expect(tokens.accessToken).toBe(ACCESS);
    const [request] = server.requests;
    expect(request!.headers.authorization).toBe(basic('my-client', SECRET));
    expect(request!.params).toEqual({
      grant_type: 'authorization_code',
      code: CODE,
      redirect_uri: REDIRECT,
      code_verifier: VERIFIER,
    });
  });

  it('speaks the camelCase JSON dialect with credentials in the body, like refresh', async () => {
    const { endpoint } = endpointWith({
      authMethod: 'client_secret_post',
      bodyEncoding: 'json',
      fieldNaming: 'camelCase',
    });
    await endpoint.authorizationCode({ code: CODE, redirectUri: REDIRECT });
    const [request] = server.requests;
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.params).toEqual({
      grantType: 'authorization_code',
      code: CODE,
      redirectUri: REDIRECT,
      clientId: 'my-client',
      clientSecret: SECRET,
    });
  });

  it('keeps the provider fields and the refresh-token expiry of the answer', async () => {
    server.handler = (_request, res) =>
      json(res, 200, {
        access_token: ACCESS,
        refresh_token: REFRESH,
        expires_in: 3600,
        refresh_token_expires_in: 7_776_000,
        instance_url: 'https://eu.example.my.salesforce.com',
        id_token: 'eyJhbGciOiJub25lIn0.e30.',
      });
    const T = Date.UTC(2026, 0, 1);
    const { endpoint } = endpointWith({ now: () => T });
    const tokens = await endpoint.authorizationCode({ code: CODE, redirectUri: REDIRECT });
    expect(tokens.refreshTokenExpiresAt).toBe(T + 7_776_000_000 - 1000);
    expect(tokens.extras).toEqual({
      instance_url: 'https://eu.example.my.salesforce.com',
      id_token: 'eyJhbGciOiJub25lIn0.e30.',
    });
  });

  it('turns invalid_grant into ReauthenticationRequiredError saying to start the sign-in again, quoting neither code nor verifier', async () => {
    server.handler = (_request, res) =>
      json(res, 400, { error: 'invalid_grant', error_description: `code ${CODE} or verifier ${VERIFIER} is wrong` });
    const { endpoint } = endpointWith();
    const error = await endpoint
      .authorizationCode({ code: CODE, redirectUri: REDIRECT, codeVerifier: VERIFIER })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReauthenticationRequiredError);
    expect((error as ReauthenticationRequiredError).reason).toBe('invalid_grant');
    expect((error as Error).message).toContain('start the sign-in again');
    const shown = [
      (error as Error).message,
      inspect(error, { showHidden: true, depth: 9 }),
      JSON.stringify(error),
    ].join('\n');
    expect(shown).not.toContain('SENTINEL');
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['no code', { redirectUri: REDIRECT }, 'Expected `code` to be a non-empty string'],
    ['an empty code', { code: '', redirectUri: REDIRECT }, 'Expected `code` to be a non-empty string'],
    ['no redirect URI', { code: CODE }, 'Expected `redirectUri` to be'],
    [
      'a relative redirect URI',
      { code: CODE, redirectUri: '/callback' },
      'Expected `redirectUri` to be an absolute URL',
    ],
    [
      'a short verifier',
      { code: CODE, redirectUri: REDIRECT, codeVerifier: 'SENTINEL-short' },
      'Expected `codeVerifier` to be a string of 43 to 128',
    ],
    ['no options', undefined, 'Expected `options` to be an object'],
  ])('refuses %s with a TypeError and sends nothing', async (_what, options, message) => {
    const { endpoint } = endpointWith();
    const error = await Promise.resolve()
      .then(() => endpoint.authorizationCode(options as never))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('SENTINEL');
    expect(server.requests).toHaveLength(0);
  });
});

describe('OAuth2Endpoint refreshTokenLifetime', () => {
  const T0 = Date.UTC(2026, 0, 1);
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const code = { code: 'c', redirectUri: 'https://app.example.com/cb' };

  beforeEach(() => {
    server.handler = (_request, res) =>
      json(res, 200, { access_token: ACCESS, refresh_token: REFRESH, expires_in: 3600 });
  });

  it('sets refreshTokenExpiresAt from an idle lifetime, renewed by each refresh', async () => {
    let now = T0;
    const { endpoint } = endpointWith({ now: () => now, refreshTokenLifetime: { idleMs: 90 * DAY } });
    const first = await endpoint.authorizationCode(code);
    expect(first.refreshTokenExpiresAt).toBe(T0 + 90 * DAY);
    expect(first.grantExpiresAt).toBeUndefined();
    now = T0 + 30 * DAY;
    const second = await endpoint.refresh(REFRESH, { previous: first });
    expect(second.refreshTokenExpiresAt).toBe(T0 + 120 * DAY);
  });

  it('counts an absolute lifetime from the code exchange and carries it through refreshes as grantExpiresAt', async () => {
    let now = T0;
    const { endpoint } = endpointWith({
      now: () => now,
      refreshTokenLifetime: { absoluteMs: 100 * DAY, idleMs: 90 * DAY },
    });
    const first = await endpoint.authorizationCode(code);
    expect(first.grantExpiresAt).toBe(T0 + 100 * DAY);
    expect(first.refreshTokenExpiresAt).toBe(T0 + 90 * DAY);
    now = T0 + 60 * DAY;
    const second = await endpoint.refresh(REFRESH, { previous: first });
    expect(second.grantExpiresAt).toBe(T0 + 100 * DAY);
    expect(second.refreshTokenExpiresAt).toBe(T0 + 100 * DAY);
    // Without the previous set, the grant's start is unknown: only the idle lifetime applies.
    const blind = await endpoint.refresh(REFRESH);
    expect(blind.grantExpiresAt).toBeUndefined();
    expect(blind.refreshTokenExpiresAt).toBe(now + 90 * DAY);
  });

  it("prefers the server's stated refresh-token lifetime to the configured idle one, still capped by the grant's end", async () => {
    server.handler = (_request, res) =>
      json(res, 200, { access_token: ACCESS, refresh_token: REFRESH, refresh_token_expires_in: 3600 });
    const { endpoint } = endpointWith({ now: () => T0, refreshTokenLifetime: { idleMs: 90 * DAY } });
    expect((await endpoint.authorizationCode(code)).refreshTokenExpiresAt).toBe(T0 + HOUR - 1000);
    const capped = endpointWith({ now: () => T0, refreshTokenLifetime: { absoluteMs: HOUR / 2 } }).endpoint;
    expect((await capped.authorizationCode(code)).refreshTokenExpiresAt).toBe(T0 + HOUR / 2);
  });

  it('keeps the expiry of a refresh token the server did not rotate, and merges extras over the previous ones', async () => {
    server.handler = (_request, res) => json(res, 200, { access_token: ACCESS, expires_in: 3600, signature: 'sig-2' });
    const previous = {
      accessToken: 'old',
      refreshToken: REFRESH,
      refreshTokenExpiresAt: T0 + DAY,
      extras: { instance_url: 'https://x.example', signature: 'sig-1' },
    };
    const { endpoint } = endpointWith({ now: () => T0 });
    const tokens = await endpoint.refresh(REFRESH, { previous });
    expect(tokens.refreshTokenExpiresAt).toBe(T0 + DAY);
    expect(tokens.extras).toEqual({ signature: 'sig-2', instance_url: 'https://x.example' });
  });

  it('refuses a previous set holding another refresh token, without quoting either', async () => {
    const { endpoint } = endpointWith();
    const error = await Promise.resolve()
      .then(() => endpoint.refresh(REFRESH, { previous: { accessToken: 'a', refreshToken: 'other-SENTINEL-token' } }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('`options.previous`');
    expect((error as Error).message).not.toContain('SENTINEL');
    expect(server.requests).toHaveLength(0);
  });

  it.each([
    [
      { idleMs: -1 },
      'Expected `refreshTokenLifetime.idleMs` to be an integer from 1000 to 315360000000, got `-1` (number)',
    ],
    [{ absoluteMs: 1.5e12 }, 'Expected `refreshTokenLifetime.absoluteMs` to be an integer from 1000'],
    [{ idleMs: Number.NaN }, '`refreshTokenLifetime.idleMs`'],
    [{ idleMs: 90 }, 'got `90` (number)'],
    [{ idle: 5 }, 'Unexpected `refreshTokenLifetime.idle`'],
    ['90d', 'Expected `refreshTokenLifetime` to be an object'],
  ])('refuses refreshTokenLifetime %p with a typed message', (lifetime, message) => {
    expect(() => endpointWith({ refreshTokenLifetime: lifetime as never })).toThrow(message);
  });
});
