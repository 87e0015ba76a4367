// Benchmark 5: Express and Koa apps whose handler calls a loopback upstream
// through req.tokens.fetch / ctx.state.tokens.fetch, in requests per second,
// against the same app sending a static Authorization header (autocannon).
import autocannon from 'autocannon';
import express from 'express';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TokenCache } from '@refreshkit/core';
import { freshTokens as expressTokens } from '@refreshkit/express';
import { freshTokens as koaTokens } from '@refreshkit/koa';
import { unusedEndpoint, type Benchmark } from './harness.js';

const SECONDS = 4;
const CONNECTIONS = 32;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function requestsPerSecond(url: string, duration = SECONDS): Promise<number> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration, headers: { 'x-user': 'alice' } });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

export const middlewareThroughput: Benchmark = {
  id: 'middleware-throughput',
  async run() {
    const upstream = createServer((_req, res) => res.end('{"ok":true}'));
    const upstreamOrigin = await listen(upstream);
    const cache = new TokenCache({ endpoint: unusedEndpoint, allowedOrigins: [upstreamOrigin] });
    await cache.set('alice', { accessToken: 'alice-token', refreshToken: 'r', expiresAt: Date.now() + 3_600_000 });
    const staticHeaders = { authorization: 'Bearer alice-token' };

    const expressApp = express();
    expressApp.use(expressTokens<express.Request>({ cache, key: (req) => req.get('x-user') }));
    expressApp.get(
      '/tokens',
      async (req, res) => void res.send(await (await req.tokens.fetch(`${upstreamOrigin}/`)).text()),
    );
    expressApp.get(
      '/static',
      async (_req, res) => void res.send(await (await fetch(`${upstreamOrigin}/`, { headers: staticHeaders })).text()),
    );

    const koaApp = new Koa();
    koaApp.silent = true; // autocannon cuts connections at the end of each run
    koaApp.use(koaTokens<Koa.Context>({ cache, key: (ctx) => ctx.get('x-user') || undefined }));
    koaApp.use(async (ctx) => {
      const response =
        ctx.path === '/tokens'
          ? await ctx.state.tokens.fetch(`${upstreamOrigin}/`)
          : await fetch(`${upstreamOrigin}/`, { headers: staticHeaders });
      ctx.body = await response.text();
    });

    const expressServer = createServer(expressApp);
    const koaServer = createServer(koaApp.callback());
    const [expressUrl, koaUrl] = [await listen(expressServer), await listen(koaServer)];
    try {
      // Warm every route up first (JIT, connection pools), then alternate
      // token/static runs so both see the same machine state.
      for (const base of [expressUrl, koaUrl]) {
        for (const route of ['/tokens', '/static']) await requestsPerSecond(`${base}${route}`, 1);
      }
      const figures: Record<string, number> = {};
      for (const [name, base] of [
        ['Express', expressUrl],
        ['Koa', koaUrl],
      ] as const) {
        const withTokens = await requestsPerSecond(`${base}/tokens`);
        const withStatic = await requestsPerSecond(`${base}/static`);
        const withTokensAgain = await requestsPerSecond(`${base}/tokens`);
        figures[name] = (withTokens + withTokensAgain) / 2 / withStatic;
      }
      const worst = Math.min(...Object.values(figures));
      return {
        name: '5. Express and Koa: req/s through tokens.fetch ÷ the same app with a static header',
        target: '≥ 0.95',
        figure: Object.entries(figures)
          .map(([name, ratio]) => `${name} ${ratio.toFixed(2)}`)
          .join(', '),
        pass: worst >= 0.95,
        notes:
          `autocannon, ${CONNECTIONS} connections, 1 s warm-up per route, then ${SECONDS} s per run, token runs before and after the static run (averaged); load generator, apps and upstream share this machine's cores. ` +
          'The token path does per request what the static path does not: it resolves the key, parses the URL, copies the ' +
          "headers into a new `Headers`, and follows redirects by hand (`redirect: 'manual'`) so the bearer never crosses origins. " +
          'That is a few microseconds against a loopback round trip of tens; not optimised yet.',
      };
    } finally {
      for (const server of [expressServer, koaServer, upstream]) {
        server.closeAllConnections();
        server.close();
      }
    }
  },
};
