// Benchmark 9: outbound clients. Requests per second that undici `request`
// and axios complete through the refreshkit token path (@refreshkit/undici,
// @refreshkit/axios), against the same client sending a static
// Authorization header, and against the same client with an interceptor
// that only sets that header, side by side in one run. The upstream runs in a
// process of its own, so the clients measured here have this process's
// event loop to themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import axios from 'axios';
import { Agent, request, type Dispatcher } from 'undici';
import { TokenCache } from '@refreshkit/core';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerInterceptor } from '@refreshkit/undici';
import {
  axiosOverhead,
  OVERHEAD_CALLS,
  OVERHEAD_ROUNDS,
  staticHeaderInterceptor,
  undiciOverhead,
  useStaticHeaderInterceptors,
  type Overhead,
} from './client-overhead.js';
import { median, unusedEndpoint, type Benchmark } from './harness.js';

/** Short runs, many rounds: loopback throughput here drifts over seconds, and the sides of a round run close together. */
const SECONDS = 0.25;
const WARM_UP_SECONDS = 2;
/** Rounds of token, static and do-nothing-interceptor runs per client, the order rotating: single runs vary by ±10% and more here. */
const ROUNDS = 48;
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
  /** The median round's throughput ratio, token ÷ static. */
  readonly ratio: number;
  readonly lowest: number;
  readonly highest: number;
  /** The median round's throughput ratio, token ÷ the do-nothing interceptor. */
  readonly overFloor: number;
  /** The client process's CPU time per request, token ÷ static, pooled over every run. */
  readonly cpuPerRequest: number;
  /** The median round's ratio of two identical static clients: how far this machine lets the figure read. */
  readonly resolution: number;
}

/** The ways one client is run: refreshkit's token path, a static header (twice), and a do-nothing interceptor. */
interface Sides {
  readonly tokens: Send;
  readonly fixed: Send;
  /** A second client with the same static header: fixed ÷ it shows the noise of one figure. */
  readonly fixedAgain: Send;
  /**
   * The same static header set by an interceptor that does nothing else: what
   * any interceptor costs the client (undici 7's `compose` converts each
   * response's headers twice for it; axios runs a request with interceptors
   * as a promise chain).
   */
  readonly floor: Send;
}

/** Median round ratios token ÷ static, token ÷ floor and static ÷ static, the spread of the first, and CPU per request. */
async function compare({ tokens, fixed, fixedAgain, floor }: Sides): Promise<Comparison> {
  const sides = [tokens, fixed, fixedAgain, floor];
  for (const send of sides) await requestsIn(send, WARM_UP_SECONDS);
  const ratios: number[] = [];
  const overFloor: number[] = [];
  const staticOverStatic: number[] = [];
  const tokenRuns: Run[] = [];
  const fixedRuns: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // The order rotates, so no side always runs first or last.
    const order = sides.map((_, i) => sides[(round + i) % sides.length]!);
    const runs = new Map<Send, Run>();
    for (const send of order) runs.set(send, await requestsIn(send, SECONDS));
    tokenRuns.push(runs.get(tokens)!);
    fixedRuns.push(runs.get(fixed)!);
    ratios.push(runs.get(tokens)!.requests / runs.get(fixed)!.requests);
    overFloor.push(runs.get(tokens)!.requests / runs.get(floor)!.requests);
    staticOverStatic.push(runs.get(fixed)!.requests / runs.get(fixedAgain)!.requests);
  }
  const perRequest = (runs: Run[]) =>
    runs.reduce((sum, run) => sum + run.cpuMicros, 0) / runs.reduce((sum, run) => sum + run.requests, 0);
  return {
    ratio: median(ratios),
    lowest: Math.min(...ratios),
    highest: Math.max(...ratios),
    overFloor: median(overFloor),
    cpuPerRequest: perRequest(tokenRuns) / perRequest(fixedRuns),
    resolution: median(staticOverStatic),
  };
}

async function undiciSides(cache: TokenCache, url: string): Promise<Sides & { close: () => Promise<void> }> {
  const agents = [new Agent(), new Agent(), new Agent(), new Agent()] as const;
  const authorization = `Bearer ${await cache.getAccessToken(KEY)}`;
  const staticHeader = { authorization };
  const withTokens: Dispatcher = agents[0].compose(bearerInterceptor({ cache, key: KEY }));
  const withFloor: Dispatcher = agents[2].compose(staticHeaderInterceptor(authorization));
  return {
    tokens: async () => (await request(url, { dispatcher: withTokens })).body.text(),
    fixed: async () => (await request(url, { dispatcher: agents[1], headers: staticHeader })).body.text(),
    fixedAgain: async () => (await request(url, { dispatcher: agents[3], headers: staticHeader })).body.text(),
    floor: async () => (await request(url, { dispatcher: withFloor })).body.text(),
    close: async () => {
      await Promise.all(agents.map((agent) => agent.close()));
    },
  };
}

async function axiosSides(cache: TokenCache, url: string): Promise<Sides> {
  const authorization = `Bearer ${await cache.getAccessToken(KEY)}`;
  const withTokens = axios.create();
  bearerInterceptors(withTokens, { cache, key: KEY });
  const plain = axios.create({ headers: { authorization } });
  const plainAgain = axios.create({ headers: { authorization } });
  const withFloor = useStaticHeaderInterceptors(axios.create(), authorization);
  return {
    tokens: () => withTokens.get(url),
    fixed: () => plain.get(url),
    fixedAgain: () => plainAgain.get(url),
    floor: () => withFloor.get(url),
  };
}

export const clientThroughput: Benchmark = {
  id: 'client-throughput',
  async run() {
    const { origin, child } = await startUpstream();
    const cache = new TokenCache({ endpoint: unusedEndpoint, allowedOrigins: [origin] });
    await cache.set(KEY, { accessToken: 'bench-access-token', expiresAt: Date.now() + 3_600_000 });
    const url = `${origin}/resource`;
    try {
      const undici = await undiciSides(cache, url);
      const viaUndici = await compare(undici);
      await undici.close();
      const viaAxios = await compare(await axiosSides(cache, url));
      const undiciCost = await undiciOverhead(cache, KEY, origin);
      const axiosCost = await axiosOverhead(cache, KEY, origin);
      const worst = Math.min(viaUndici.ratio, viaAxios.ratio);
      const micros = (ns: number) => (ns / 1000).toFixed(2);
      const figure = (
        name: string,
        { ratio, lowest, highest, overFloor, cpuPerRequest, resolution }: Comparison,
        { tokensNs, staticNs, floorNs }: Overhead,
      ) =>
        `${name} ${ratio.toFixed(2)} (rounds ${lowest.toFixed(2)}–${highest.toFixed(2)}; static ÷ a second static client ${resolution.toFixed(2)}; ÷ a do-nothing interceptor ${overFloor.toFixed(2)}; ` +
        `client CPU per request ${cpuPerRequest.toFixed(2)}×; without the network +${micros(tokensNs - staticNs)} µs a call over the static header, ` +
        `the do-nothing interceptor +${micros(floorNs - staticNs)} µs)`;
      const perCall = (name: string, { tokensNs, staticNs, floorNs }: Overhead) =>
        `${name} ${micros(tokensNs)}, ${micros(staticNs)} and ${micros(floorNs)} µs a call`;
      return {
        name: '9. undici and axios: req/s through the bearer interceptor ÷ the same client with a static header',
        target: '≥ 0.95',
        figure: `${figure('undici request', viaUndici, undiciCost)}, ${figure('axios', viaAxios, axiosCost)}`,
        ratio: worst,
        pass: worst >= 0.95,
        notes:
          `${CONCURRENCY} requests in flight per client from this process; the upstream (plain node:http) runs in a child process. ` +
          `Each side is warmed up for ${WARM_UP_SECONDS} s, then ${ROUNDS} rounds of ${SECONDS} s runs of the four sides (token path, static header, a second client with the static header, do-nothing interceptor), the order rotating; ` +
          "the figure is the median round's ratio token ÷ static. Static ÷ the second static client is the same figure for two identical clients: how far this machine's loopback lets it read. The do-nothing interceptor sets the same static header and nothing else: token ÷ it is refreshkit's own cost, " +
          "the rest is what installing any interceptor costs the client: axios runs a request with interceptors as a promise chain, and undici 7's `compose` hands an interceptor the caller's handler wrapped for the controller API, which its dispatchers unwrap again, " +
          "copying every response's headers twice (refreshkit's interceptor answers `request` in its own callback API and skips both; the do-nothing interceptor does not). " +
          "Client CPU per request is this process's CPU time over the requests it completed, token ÷ static, pooled over all runs. The token path reads the cached token of one key, checks the origin and " +
          '(undici) follows redirects inside the interceptor, so it copies the request headers per call. ' +
          `"Without the network": each client sends ${OVERHEAD_CALLS.toLocaleString('en-US')} calls one after another through its own API (undici \`request\`, axios \`get\`) to an in-process stand-in for the network ` +
          `(a dispatcher that takes handlers as undici 7's do and answers with raw headers, an axios adapter) answering on the next microtask, the three sides rotating over ${OVERHEAD_ROUNDS} rounds ` +
          `(medians, token path, static header and do-nothing interceptor: ${perCall('undici', undiciCost)}; ${perCall('axios', axiosCost)}). ` +
          "Loopback throughput on this machine drifts by tens of percent between seconds (see the rounds' spread); these per-call costs drift by a few.",
      };
    } finally {
      child.disconnect();
    }
  },
};
