// The process under test of benchmark 5: an Express, Koa or Fastify app (argv[3])
// with a route through refreshkit (`/tokens`) and a route that sends a static
// Authorization header (`/static`), both calling the loopback upstream whose
// origin is argv[2]. It runs alone in its process so that its CPU time and
// throughput are its own, not shared with the load generator, the upstream,
// or the other framework's earlier runs.
import express from 'express';
import fastify from 'fastify';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenCache } from '@refreshkit/core';
import { freshTokens as expressTokens } from '@refreshkit/express';
import { freshTokens as fastifyTokens } from '@refreshkit/fastify';
import { freshTokens as koaTokens } from '@refreshkit/koa';
import { unusedEndpoint } from './harness.js';

/** What the parent asks the apps process, over IPC. */
export type AppsRequest = 'cpu';

/** The frameworks the apps process can serve. */
export type Framework = 'Express' | 'Koa' | 'Fastify';

/** What the apps process sends the parent: its URL once, then CPU readings. */
export type AppsMessage = { readonly url: string } | { readonly cpuMicros: number; readonly served: number };

const upstreamOrigin = process.argv[2]!;
const framework = process.argv[3] as Framework;
const cache = new TokenCache({ endpoint: unusedEndpoint, allowedOrigins: [upstreamOrigin] });
await cache.set('alice', { accessToken: 'alice-token', refreshToken: 'r', expiresAt: Date.now() + 3_600_000 });
const staticHeaders = { authorization: 'Bearer alice-token' };
const upstreamUrl = `${upstreamOrigin}/`;

function expressApp(): Server {
  const app = express();
  app.use(expressTokens<express.Request>({ cache, key: (req) => req.get('x-user') }));
  app.get('/tokens', async (req, res) => void res.send(await (await req.tokens.fetch(upstreamUrl)).text()));
  app.get(
    '/static',
    async (_req, res) => void res.send(await (await fetch(upstreamUrl, { headers: staticHeaders })).text()),
  );
  return createServer(app);
}

function koaApp(): Server {
  const app = new Koa();
  app.silent = true; // autocannon cuts connections at the end of each run
  app.use(koaTokens<Koa.Context>({ cache, key: (ctx) => ctx.get('x-user') || undefined }));
  app.use(async (ctx) => {
    const response =
      ctx.path === '/tokens'
        ? await ctx.state.tokens.fetch(upstreamUrl)
        : await fetch(upstreamUrl, { headers: staticHeaders });
    ctx.body = await response.text();
  });
  return createServer(app.callback());
}

async function fastifyApp(): Promise<Server> {
  const app = fastify();
  await app.register(fastifyTokens, { cache, key: (request) => request.headers['x-user'] as string | undefined });
  app.get('/tokens', async (request) => (await request.tokens.fetch(upstreamUrl)).text());
  app.get('/static', async () => (await fetch(upstreamUrl, { headers: staticHeaders })).text());
  await app.ready();
  return app.server;
}

const apps: Record<Framework, () => Server | Promise<Server>> = {
  Express: expressApp,
  Koa: koaApp,
  Fastify: fastifyApp,
};

let served = 0;
async function listen(server: Server): Promise<string> {
  server.on('request', () => served++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const url = await listen(await apps[framework]());
process.on('message', (request: AppsRequest) => {
  if (request !== 'cpu') return;
  const { user, system } = process.cpuUsage();
  process.send!({ cpuMicros: user + system, served } satisfies AppsMessage);
});
process.on('disconnect', () => process.exit(0));
process.send!({ url } satisfies AppsMessage);
