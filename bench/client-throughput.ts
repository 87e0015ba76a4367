// Benchmark 9: outbound clients. Requests per second that undici `request`
// and axios complete through the refreshkit token path (@refreshkit/undici,
// @refreshkit/axios), against the same client sending a static
// Authorization header, side by side in one run. The upstream runs in a
// process of its own, so the clients measured here have this process's
// event loop to themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import axios from 'axios';
import { Agent, request, type Dispatcher } from 'undici';
import { TokenCache } from '@refreshkit/core';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerInterceptor } from '@refreshkit/undici';
import { median, unusedEndpoint, type Benchmark } from './harness.js';

const SECONDS = 1;
const WARM_UP_SECONDS = 2;
/** Pairs of token and static runs per client, the order alternating: single runs vary by ±10% here. */
const PAIRS = 10;
/** Requests in flight at once, as a busy backend calling one API has. */
const CONCURRENCY = 32;
const KEY = 'service';

/** A plain HTTP upstream answering every request with a small JSON body, in a child process. */
const UPSTREAM_SOURCE = `
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true}'); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('disconnect', () => process.exit(0));
`;

async function startUpstream(): Promise<{ origin: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', UPSTREAM_SOURCE], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  return { origin: `http://127.0.0.1:${port}`, child };
}

/** One way of sending a GET to the upstream; resolves once the body is read. */
type Send = () => Promise<unknown>;

/** One run: requests completed, and this process's CPU time (µs) meanwhile. */
interface Run {
  readonly requests: number;
  readonly cpuMicros: number;
}

/** Requests completed in `seconds` with `CONCURRENCY` senders, each sending again as soon as it has an answer. */
async function requestsIn(send: Send, seconds: number): Promise<Run> {
  const deadline = performance.now() + seconds * 1000;
  const cpuBefore = process.cpuUsage();
  let completed = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await send();
      completed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const cpu = process.cpuUsage(cpuBefore);
  return { requests: completed, cpuMicros: cpu.user + cpu.system };
}

interface Comparison {
  /** The median pair's throughput ratio, token ÷ static. */
  readonly ratio: number;
  readonly lowest: number;
  readonly highest: number;
  /** The client process's CPU time per request, token ÷ static, pooled over every run. */
  readonly cpuPerRequest: number;
}

/** Median pair ratio token ÷ static, the spread of the pairs, and CPU per request. */
async function compare(tokens: Send, fixed: Send): Promise<Comparison> {
  await requestsIn(tokens, WARM_UP_SECONDS);
  await requestsIn(fixed, WARM_UP_SECONDS);
  const ratios: number[] = [];
  const tokenRuns: Run[] = [];
  const fixedRuns: Run[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const tokensFirst = pair % 2 === 0;
    if (tokensFirst) tokenRuns.push(await requestsIn(tokens, SECONDS));
    fixedRuns.push(await requestsIn(fixed, SECONDS));
    if (!tokensFirst) tokenRuns.push(await requestsIn(tokens, SECONDS));
    ratios.push(tokenRuns[pair]!.requests / fixedRuns[pair]!.requests);
  }
  const perRequest = (runs: Run[]) =>
    runs.reduce((sum, run) => sum + run.cpuMicros, 0) / runs.reduce((sum, run) => sum + run.requests, 0);
  return {
    ratio: median(ratios),
    lowest: Math.min(...ratios),
    highest: Math.max(...ratios),
    cpuPerRequest: perRequest(tokenRuns) / perRequest(fixedRuns),
  };
}

async function undiciPair(
  cache: TokenCache,
  url: string,
): Promise<{ tokens: Send; fixed: Send; close: () => Promise<void> }> {
  const plain = new Agent();
  const withTokens = new Agent();
  const dispatcher: Dispatcher = withTokens.compose(bearerInterceptor({ cache, key: KEY }));
  const staticHeader = { authorization: `Bearer ${await cache.getAccessToken(KEY)}` };
  return {
    tokens: async () => (await request(url, { dispatcher })).body.text(),
    fixed: async () => (await request(url, { dispatcher: plain, headers: staticHeader })).body.text(),
    close: async () => {
      await Promise.all([plain.close(), withTokens.close()]);
    },
  };
}

async function axiosPair(cache: TokenCache, url: string): Promise<{ tokens: Send; fixed: Send }> {
  const withTokens = axios.create();
  bearerInterceptors(withTokens, { cache, key: KEY });
  const plain = axios.create({ headers: { authorization: `Bearer ${await cache.getAccessToken(KEY)}` } });
  return { tokens: () => withTokens.get(url), fixed: () => plain.get(url) };
}

export const clientThroughput: Benchmark = {
  id: 'client-throughput',
  async run() {
    const { origin, child } = await startUpstream();
    const cache = new TokenCache({ endpoint: unusedEndpoint, allowedOrigins: [origin] });
    await cache.set(KEY, { accessToken: 'bench-access-token', expiresAt: Date.now() + 3_600_000 });
    const url = `${origin}/resource`;
    try {
      const undici = await undiciPair(cache, url);
      const viaUndici = await compare(undici.tokens, undici.fixed);
      await undici.close();
      const viaAxios = await axiosPair(cache, url);
      const viaAxiosRatio = await compare(viaAxios.tokens, viaAxios.fixed);
      const worst = Math.min(viaUndici.ratio, viaAxiosRatio.ratio);
      const figure = (name: string, { ratio, lowest, highest, cpuPerRequest }: Comparison) =>
        `${name} ${ratio.toFixed(2)} (pairs ${lowest.toFixed(2)}–${highest.toFixed(2)}; client CPU per request ${cpuPerRequest.toFixed(2)}×)`;
      return {
        name: '9. undici and axios: req/s through the bearer interceptor ÷ the same client with a static header',
        target: '≥ 0.95',
        figure: `${figure('undici request', viaUndici)}, ${figure('axios', viaAxiosRatio)}`,
        ratio: worst,
        pass: worst >= 0.95,
        notes:
          `${CONCURRENCY} requests in flight per client from this process; the upstream (plain node:http) runs in a child process. ` +
          `Each client is warmed up for ${WARM_UP_SECONDS} s per side, then ${PAIRS} pairs of ${SECONDS} s runs, token and static, the order alternating; ` +
          "the figure is the median pair's ratio. Client CPU per request is this process's CPU time over the requests it completed, token ÷ static, pooled over all runs: " +
          'it leaves out the upstream, so it shows the client-side cost alone and varies less than throughput when other processes share the cores. The token path reads the cached token of one key, checks the origin and ' +
          '(undici) follows redirects inside the interceptor, so it copies the request headers per call.',
      };
    } finally {
      child.disconnect();
    }
  },
};
