import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import {
  InvalidTokenResponseError,
  MemoryStore,
  OAuth2Endpoint,
  TokenCache,
  TokenEndpointUnavailableError,
} from '@refreshkit/core';
import { waitFor } from './support/wait-for.js';

/** How the faulty endpoint misbehaves; `undefined` answers normally. */
type Fault = (req: IncomingMessage, res: ServerResponse) => void;

let fault: Fault | undefined;
let requests = 0;
let server: Server;
let tokenUrl: string;
let resetServer: TcpServer;
let resetUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      if (fault) return fault(req, res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `fresh-${requests}`, refresh_token: `rt-${requests}`, expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  // Resets every connection as soon as it opens: no request is ever sent.
  resetServer = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => resetServer.listen(0, '127.0.0.1', resolve));
  resetUrl = `http://127.0.0.1:${(resetServer.address() as AddressInfo).port}/token`;
});
afterAll(async () => {
  await new Promise((resolve) => resetServer.close(resolve));
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
afterAll(() => void process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  fault = undefined;
});

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Fault =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

/** Arms a fault; returning a string names another token URL to use. */
type Arm = () => unknown;

const faults: [string, Arm, typeof TokenEndpointUnavailableError | typeof InvalidTokenResponseError, number][] = [
  [
    '500: retried 3 times, then TokenEndpointUnavailableError',
    () => (fault = json(500, { error: 'server_error' })),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    '502 with Retry-After: retried 3 times, then TokenEndpointUnavailableError',
    () => (fault = json(502, {}, { 'retry-after': '1' })),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    '503 with Retry-After: retried 3 times, then TokenEndpointUnavailableError',
    () => (fault = json(503, {}, { 'retry-after': '1' })),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    '429: retried 3 times, then TokenEndpointUnavailableError',
    () => (fault = json(429, { error: 'slow_down' })),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    'a hang past the timeout: 3 timed-out attempts, then TokenEndpointUnavailableError',
    () => (fault = () => {}),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    'a reset before the request is sent: retried, then TokenEndpointUnavailableError',
    () => resetUrl,
    TokenEndpointUnavailableError,
    0,
  ],
  [
    'a reset after the request is sent: retried 3 times, then TokenEndpointUnavailableError',
    () => (fault = (req) => void req.socket.destroy()),
    TokenEndpointUnavailableError,
    3,
  ],
  [
    'an HTML 200: never retried, InvalidTokenResponseError',
    () =>
      (fault = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Maintenance</body></html>');
      }),
    InvalidTokenResponseError,
    1,
  ],
  [
    'truncated JSON: never retried, InvalidTokenResponseError',
    () =>
      (fault = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"access_token":"abc","expires_in":36');
      }),
    InvalidTokenResponseError,
    1,
  ],
  [
    'a 200 without access_token: never retried, InvalidTokenResponseError',
    () => (fault = json(200, { token_type: 'Bearer', expires_in: 3600 })),
    InvalidTokenResponseError,
    1,
  ],
  [
    'an oversized body: never retried, InvalidTokenResponseError',
    () => (fault = json(200, { access_token: 'a', pad: 'x'.repeat(100_000) })),
    InvalidTokenResponseError,
    1,
  ],
  [
    'a slow drip past the timeout: 3 timed-out attempts, then TokenEndpointUnavailableError',
    () =>
      (fault = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const drip = setInterval(() => (res.writableEnded ? clearInterval(drip) : res.write(' ')), 30);
        res.on('close', () => clearInterval(drip));
      }),
    TokenEndpointUnavailableError,
    3,
  ],
];

describe('a faulty token endpoint', () => {
  it.each(faults)(
    '%s; valid tokens keep being served and stored tokens stay unchanged',
    async (_name, arm, errorType, attempts) => {
      const delays: number[] = [];
      const store = new MemoryStore();
      requests = 0;
      const armed = arm();
      const url = typeof armed === 'string' ? armed : tokenUrl;
      let clock = Date.now();
      const cache = new TokenCache({
        now: () => clock,
        endpoint: new OAuth2Endpoint({
          tokenUrl: url,
          clientId: 'client',
          clientSecret: 'secret',
          timeoutMs: 150,
          sleep: async (ms) => void delays.push(ms),
        }),
        store,
        refreshWindowMs: 60_000,
      });
      await cache.set('valid', { accessToken: 'still-valid', refreshToken: 'rt-valid', expiresAt: clock + 30_000 });
      await cache.set('expired', { accessToken: 'old', refreshToken: 'rt-expired', expiresAt: clock - 1 });
      clock += 20_000; // 'valid' is now inside its refresh window (the last 15 s of 30)
      const before = { valid: store.get('valid'), expired: store.get('expired') };
      const refreshErrors: unknown[] = [];
      cache.on('refreshError', ({ error }) => refreshErrors.push(error));

      // Inside the refresh window: served at once; the failing refresh runs in the background.
      expect(await cache.getAccessToken('valid')).toBe('still-valid');
      const error = await cache.getAccessToken('expired').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(errorType);
      expect(await cache.getAccessToken('valid')).toBe('still-valid');
      await waitFor(async () => refreshErrors.length === 2, 'Two refresh errors', { timeoutMs: 5_000, intervalMs: 10 });

      // The tokens stay as they were; only the grant's health says it is failing (never dead).
      expect(store.get('valid')?.tokens).toBe(before.valid?.tokens);
      expect(store.get('expired')?.tokens).toBe(before.expired?.tokens);
      expect(await cache.health('valid')).toMatchObject({ state: 'failing', code: (error as { code: string }).code });
      expect(await cache.health('expired')).toMatchObject({ state: 'failing' });
      // Bounded: `attempts` per refresh (two refreshes ran: one per key).
      expect(requests).toBe(attempts * 2);
      expect(delays.length).toBe(errorType === InvalidTokenResponseError ? 0 : 4);
      expect(delays.every((ms) => ms <= 5_000)).toBe(true);
      expect(unhandled).toEqual([]);
    },
  );

  it('recovers once the endpoint is healthy again', async () => {
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl, clientId: 'client', clientSecret: 'secret', sleep: async () => {} }),
    });
    await cache.set('k', { accessToken: 'old', refreshToken: 'rt', expiresAt: Date.now() - 1 });
    fault = json(503, {});
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(TokenEndpointUnavailableError);
    fault = undefined;
    expect(await cache.getAccessToken('k')).toMatch(/^fresh-/);
  });
});

describe('a token endpoint whose tokens are expired on arrival', () => {
  it.each<[string, Record<string, unknown>]>([
    ['expires_in: 0', { expires_in: 0 }],
    ['a JWT whose exp is in the past', { access_token: jwtExpiringAt(Math.floor(Date.now() / 1000) - 3600) }],
  ])('%s: callers do not each refresh (one call per floor, not one per request)', async (_name, answer) => {
    let clock = Date.now();
    const cache = new TokenCache({
      now: () => clock,
      endpoint: new OAuth2Endpoint({ tokenUrl, clientId: 'client', clientSecret: 'secret', sleep: async () => {} }),
    });
    await cache.set('k', { accessToken: 'old', refreshToken: 'rt', expiresAt: clock - 1 });
    requests = 0;
    fault = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `stillborn-${requests}`, refresh_token: `rt-${requests}`, ...answer }));
    };
    for (let i = 0; i < 50; i++) await cache.getAccessToken('k');
    expect(requests).toBe(1);
    clock += 2_000; // past the floor: the next caller refreshes again, once
    for (let i = 0; i < 50; i++) await cache.getAccessToken('k');
    expect(requests).toBe(2);
    await cache.close();
  });
});

/** An unsigned JWT with the given `exp` (seconds): only its expiry matters here. */
function jwtExpiringAt(exp: number): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp })}.sig`;
}
