// Benchmark 5: Express, Koa and Fastify apps whose handler calls a loopback
// upstream through req.tokens.fetch / ctx.state.tokens.fetch / request.tokens.fetch, in requests per second,
// against the same app sending a static Authorization header (autocannon).
// The apps run in a process of their own (middleware-apps.ts); this process
// holds the load generator and the upstream.
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AppsMessage, AppsRequest, Framework } from './middleware-apps.js';
import { median, type Benchmark } from './harness.js';

const SECONDS = 2;
const WARM_UP_SECONDS = 5;
/**
 * Pairs of token and static runs per framework. Runs on this 2-core machine
 * vary by about ±10% from one to the next whatever the route (the ratio of
 * two runs of the same static route has a standard deviation of 9%), so many
 * short runs in alternating order are compared pair by pair, rather than a
 * few long ones. Per second spent, runs of 2 s were the least noisy of 1, 2,
 * 5 and 10 s.
 */
const PAIRS = 20;
const CONNECTIONS = 32;
const appsModule = fileURLToPath(new URL('./middleware-apps.ts', import.meta.url));

/** One autocannon run: requests completed, and the apps process's CPU time and requests served meanwhile. */
interface Run {
  readonly requests: number;
  readonly cpuMicros: number;
  readonly served: number;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function nextMessage(apps: ChildProcess): Promise<AppsMessage> {
  return new Promise((resolve) => apps.once('message', (message) => resolve(message as AppsMessage)));
}

async function cpuReading(apps: ChildProcess): Promise<{ cpuMicros: number; served: number }> {
  const reply = nextMessage(apps);
  apps.send('cpu' satisfies AppsRequest);
  const message = await reply;
  if (!('cpuMicros' in message)) throw new Error('the apps process answered out of turn');
  return message;
}

async function measure(apps: ChildProcess, url: string, duration = SECONDS): Promise<Run> {
  const before = await cpuReading(apps);
  const result = await autocannon({ url, connections: CONNECTIONS, duration, headers: { 'x-user': 'alice' } });
  const after = await cpuReading(apps);
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return {
    requests: result.requests.total,
    cpuMicros: after.cpuMicros - before.cpuMicros,
    served: after.served - before.served,
  };
}

/**
 * Token runs against static runs of one framework: the median pair's
 * throughput ratio (one stalled run cannot sway it), the pooled CPU time per
 * request, and the spread of the pairs.
 */
interface Comparison {
  readonly throughput: number;
  readonly cpuPerRequest: number;
  readonly lowestPair: number;
  readonly highestPair: number;
}

const total = (runs: readonly Run[], field: keyof Run): number => runs.reduce((sum, run) => sum + run[field], 0);

/** Runs `PAIRS` pairs of token and static runs, in alternating order, and compares them. */
async function compareRoutes(apps: ChildProcess, base: string): Promise<Comparison> {
  const tokens: Run[] = [];
  const fixed: Run[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const tokensFirst = pair % 2 === 0;
    if (tokensFirst) tokens.push(await measure(apps, `${base}/tokens`));
    fixed.push(await measure(apps, `${base}/static`));
    if (!tokensFirst) tokens.push(await measure(apps, `${base}/tokens`));
  }
  const pairRatios = tokens.map((run, pair) => run.requests / fixed[pair]!.requests);
  return {
    throughput: median(pairRatios),
    cpuPerRequest:
      total(tokens, 'cpuMicros') / total(tokens, 'served') / (total(fixed, 'cpuMicros') / total(fixed, 'served')),
    lowestPair: Math.min(...pairRatios),
    highestPair: Math.max(...pairRatios),
  };
}

/** Starts `framework`'s app in a fresh process, warms both routes up, and compares them. */
async function compareFramework(framework: Framework, upstreamOrigin: string): Promise<Comparison> {
  const apps = fork(appsModule, [upstreamOrigin, framework], { execArgv: ['--import', 'tsx'] });
  try {
    const started = await nextMessage(apps);
    if (!('url' in started)) throw new Error(`the ${framework} process did not start`);
    // Warm both routes up first (JIT, connection pools, heap size).
    for (const route of ['/tokens', '/static']) await measure(apps, `${started.url}${route}`, WARM_UP_SECONDS);
    return await compareRoutes(apps, started.url);
  } finally {
    apps.disconnect();
  }
}

export const middlewareThroughput: Benchmark = {
  id: 'middleware-throughput',
  async run() {
    const upstream = createServer((_req, res) => res.end('{"ok":true}'));
    const upstreamOrigin = await listen(upstream);
    try {
      const figures: string[] = [];
      let worst = Infinity;
      // Each framework in a process of its own: when both shared one, Koa
      // read 0.89–0.94 measured second and 0.99 measured first.
      for (const framework of ['Express', 'Koa', 'Fastify'] as const) {
        const { throughput, cpuPerRequest, lowestPair, highestPair } = await compareFramework(
          framework,
          upstreamOrigin,
        );
        worst = Math.min(worst, throughput);
        const spread = `${lowestPair.toFixed(2)}–${highestPair.toFixed(2)}`;
        figures.push(
          `${framework} ${throughput.toFixed(2)} (pairs ${spread}; CPU per request ${cpuPerRequest.toFixed(2)}×)`,
        );
      }
      return {
        name: '5. Express, Koa and Fastify: req/s through tokens.fetch ÷ the same app with a static header',
        target: '≥ 0.95',
        figure: figures.join(', '),
        ratio: worst,
        pass: worst >= 0.95,
        notes:
          `autocannon, ${CONNECTIONS} connections. Each framework runs in a fresh process of its own (when both shared one process, Koa read 0.89–0.94 measured second and 0.99 measured first); the load generator and the upstream share the other core. ` +
          `Each route is warmed up for ${WARM_UP_SECONDS} s, then come ${PAIRS} pairs of ${SECONDS} s runs, token and static, the order alternating. The figure is the median pair's ratio; the lowest and highest pairs show the run-to-run noise. ` +
          "CPU per request is the apps process's CPU time over the requests it served, token route ÷ static route. " +
          'Per request the token path resolves the key, checks the origin, reads the cached token and sends with ' +
          "`redirect: 'manual'`, so that a redirect is followed by hand and the bearer never crosses origins. " +
          'With a fetch that answers a macrotask later, 32 calls at a time, that costs 0.65 µs a call more than a static-header fetch ' +
          '(1.5 µs before the origin check stopped parsing a URL of its own and the first hop stopped going through a second async function); the apps spend 150–250 µs on a request. ' +
          "The resolution of this benchmark is a few points: with the static route on both sides of every pair the figure read 1.00–1.01, and so did a route sending the token path's exact fetch arguments without refreshkit, while single pairs ranged 0.8–1.2. " +
          'Across runs of this code the figure has read 0.94–1.00 for Express and 0.96–1.00 for Koa, with CPU per request 1.01–1.07×. ' +
          'Fastify (request.tokens.fetch in an async route, the plugin registered at the root) joined later: its first run, on a machine busy with other test runs (Express pairs 0.35–2.66 in the same run), read 1.11 with CPU per request 1.00×; a quiet full run should confirm it.',
      };
    } finally {
      upstream.closeAllConnections();
      upstream.close();
    }
  },
};
