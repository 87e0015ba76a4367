// The packed-package scenario, compiled by tsc under each module mode a
// TypeScript app uses (see scripts/test-packed.mjs) and run with Node. It
// uses only the public API, exactly as an app that installed the tarballs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { trace, type TracerProvider } from '@opentelemetry/api';
import { OAuth2Endpoint, ReauthenticationRequiredError, TokenCache, type TokenSet } from '@refreshkit/core';
import { freshTokens as expressTokens } from '@refreshkit/express';
import { freshTokens as fastifyTokens } from '@refreshkit/fastify';
import { freshTokens as honoTokens, type TokensEnv } from '@refreshkit/hono';
import { freshTokens as koaTokens } from '@refreshkit/koa';
import { instrument } from '@refreshkit/opentelemetry';
import { POSTGRES_SCHEMA_SQL, PostgresTokenStore } from '@refreshkit/postgres';
import { RedisTokenStore } from '@refreshkit/redis';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerHooks } from '@refreshkit/got';
import { bearerInterceptor, KEY_HEADER } from '@refreshkit/undici';
import axios from 'axios';
import { Agent, request } from 'undici';

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`packed scenario failed: ${what}`);
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<[Server, string]> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

/** A token endpoint that rotates: refresh token rN gives access token aN+1 and refresh token rN+1. */
function tokenEndpoint(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const presented = new URLSearchParams(body).get('refresh_token') ?? '';
    const next = Number(presented.slice(1)) + 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ access_token: `a${next}`, refresh_token: `r${next}`, expires_in: 3600 }));
  });
}

interface AppState {
  user?: { id: string };
}

async function main(): Promise<void> {
  const [tokenServer, tokenOrigin] = await listen(tokenEndpoint);
  const endpoint = new OAuth2Endpoint({ tokenUrl: `${tokenOrigin}/token`, clientId: 'app', clientSecret: 's3cret' });
  const cache = new TokenCache({ endpoint, allowedOrigins: ['https://api.example.com'] });

  // Instrumented through @opentelemetry/api alone (no SDK installed: its no-op providers).
  let tracers = 0;
  const tracerProvider: TracerProvider = {
    getTracer: (...args) => (tracers++, trace.getTracerProvider().getTracer(...args)),
  };
  const instrumentation = instrument(cache, { tracerProvider, cacheName: 'packed' });
  check(tracers === 1, 'instrument takes its tracer from the given provider');

  const tokens: TokenSet = { accessToken: 'a0', refreshToken: 'r0', expiresAt: Date.now() + 3_600_000 };
  await cache.set('user-1', tokens);
  check((await cache.getAccessToken('user-1')) === 'a0', 'getAccessToken serves the token set');
  check((await cache.getAccessToken('user-1', { forceRefresh: true })) === 'a1', 'a refresh reaches the endpoint');

  const unknown = await cache.getAccessToken('nobody').then(
    () => undefined,
    (error: unknown) => error,
  );
  check(unknown instanceof ReauthenticationRequiredError, 'an unknown key is a ReauthenticationRequiredError');
  instrumentation.remove();
  check(!Object.prototype.hasOwnProperty.call(cache, 'fetch'), 'remove() puts cache.fetch back');
  check((unknown as ReauthenticationRequiredError).code === 'ERR_REAUTHENTICATION_REQUIRED', 'errors carry a code');

  const expressApp = express();
  expressApp.use(expressTokens({ cache, key: (req) => req.header('x-user') }));
  expressApp.get('/token', async (req, res, next) => {
    try {
      res.json({ token: await req.tokens.getAccessToken() });
    } catch (error) {
      next(error);
    }
  });

  const koaApp = new Koa<AppState>();
  koaApp.use(async (ctx, next) => {
    const id = ctx.get('x-user');
    if (id) ctx.state.user = { id };
    await next();
  });
  koaApp.use(koaTokens({ cache, key: (ctx) => ctx.state.user?.id }));
  koaApp.use(async (ctx) => {
    ctx.body = { token: await ctx.state.tokens.getAccessToken() };
  });

  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyTokens, {
    cache,
    key: (request) => request.headers['x-user'] as string | undefined,
  });
  fastifyApp.get('/token', async (request) => ({ token: await request.tokens.getAccessToken() }));
  await fastifyApp.ready();

  // Hono through its own request API, as in a fetch runtime: no Node server.
  const honoApp = new Hono<TokensEnv>();
  honoApp.use(honoTokens({ cache, key: (c) => c.req.header('x-user') }));
  honoApp.get('/token', async (c) => c.json({ token: await c.var.tokens.getAccessToken() }));

  const servers: Server[] = [];
  const clients: [string, (headers: Record<string, string>) => Promise<Response>][] = [
    ['hono', async (headers) => honoApp.request('/token', { headers })],
  ];
  for (const [name, handler] of [
    ['express', expressApp],
    ['koa', koaApp.callback()],
    ['fastify', (req: IncomingMessage, res: ServerResponse) => fastifyApp.routing(req, res)],
  ] as const) {
    const [server, origin] = await listen(handler);
    servers.push(server);
    clients.push([name, (headers) => fetch(`${origin}/token`, { headers })]);
  }
  for (const [name, get] of clients) {
    const known = await get({ 'x-user': 'user-1' });
    check(
      known.status === 200 && ((await known.json()) as { token: string }).token === 'a1',
      `${name} serves the token`,
    );
    const anonymous = await get({});
    check(anonymous.status === 401, `${name} answers 401 without a key`);
  }
  for (const server of servers) server.close();
  await fastifyApp.close();

  const redisUrl = process.env.REDIS_URL;
  check(redisUrl !== undefined, 'REDIS_URL is set');
  const redis = new Redis(redisUrl!);
  const store = new RedisTokenStore({ redis, prefix: `packed-${process.pid}:` });
  const shared = new TokenCache({ endpoint, store, allowedOrigins: ['https://api.example.com'] });
  await shared.set('user-2', { accessToken: 'a7', refreshToken: 'r7' });
  check((await shared.getAccessToken('user-2', { forceRefresh: true })) === 'a8', 'a refresh through Redis');
  await shared.close();
  await store.close();
  await redis.quit();
  // A store with its own pool connects lazily: constructing and closing it needs no database.
  const postgres = new PostgresTokenStore({ pool: 'postgres://app@127.0.0.1:1/none', table: 'tokens' });
  check(POSTGRES_SCHEMA_SQL.includes('CREATE TABLE IF NOT EXISTS refreshkit_tokens'), 'the schema SQL is exported');
  await postgres.close();

  // The outbound clients, typed as an app writes them. got is ESM only: its
  // hooks are built here in every mode, and sent with in the JavaScript scenarios.
  const [api, apiOrigin] = await listen((req, res) => res.end(req.headers.authorization ?? 'none'));
  const outbound = new TokenCache({ endpoint, allowedOrigins: [apiOrigin] });
  await outbound.set('user-3', { accessToken: 'a9', refreshToken: 'r9', expiresAt: Date.now() + 3_600_000 });
  const agent = new Agent();
  const dispatcher = agent.compose(bearerInterceptor({ cache: outbound }));
  const viaUndici = await request(`${apiOrigin}/me`, { dispatcher, headers: { [KEY_HEADER]: 'user-3' } });
  check((await viaUndici.body.text()) === 'Bearer a9', 'undici sends the bearer');
  const instance = axios.create({ baseURL: apiOrigin });
  bearerInterceptors(instance, { cache: outbound, key: () => 'user-3' });
  check((await instance.get<string>('/me', { responseType: 'text' })).data === 'Bearer a9', 'axios sends the bearer');
  check(Array.isArray(bearerHooks({ cache: outbound }).hooks?.beforeRequest), 'got hooks are built');
  await agent.close();
  api.close();
  tokenServer.close();
  console.log('packed scenario passed');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
