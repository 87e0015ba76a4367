// `pnpm demo`: the README's first command. Needs no external service.
import { runDemo, type DemoSummary } from './run-demo.js';

const durationMs = Number(process.env.DEMO_SECONDS ?? 12) * 1000;
const accessTokenTtlSeconds = 3;
const live = process.stdout.isTTY;

console.log(
  `refreshkit demo: 8 users, 16 concurrent requests for ${durationMs / 1000} s, ` +
    `access tokens live ${accessTokenTtlSeconds} s (about ${Math.floor(durationMs / 1000 / accessTokenTtlSeconds)} expiries each)\n`,
);

function progressLine(s: DemoSummary): string {
  return (
    `${(s.elapsedMs / 1000).toFixed(1).padStart(5)} s  requests ${String(s.requests).padStart(6)}  ` +
    `failed ${s.failedRequests}  refreshes ${s.tokenEndpointCalls}  p99 ${s.p99Ms.toFixed(1)} ms`
  );
}

const summary = await runDemo({
  durationMs,
  accessTokenTtlSeconds,
  users: 8,
  concurrency: 16,
  onProgress: (s) => (live ? process.stdout.write(`\r${progressLine(s)}`) : console.log(progressLine(s))),
});
if (live) process.stdout.write('\n');

const rows: [string, string][] = [
  ['requests', String(summary.requests)],
  ['failed requests', String(summary.failedRequests)],
  ['upstream 401s', String(summary.upstream401s)],
  ['token-endpoint calls (refresh grants)', String(summary.tokenEndpointCalls)],
  ['refresh tokens presented twice', String(summary.refreshTokenReuses)],
  ['waiters coalesced', String(summary.waitersCoalesced)],
  ['latency p50', `${summary.p50Ms.toFixed(2)} ms`],
  ['latency p99', `${summary.p99Ms.toFixed(2)} ms`],
];
const width = Math.max(...rows.map(([label]) => label.length));
console.log(`\n${'-'.repeat(width + 14)}`);
for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value.padStart(10)}`);
console.log('-'.repeat(width + 14));

console.log(
  "\nMetrics: the Express example serves the cache's metrics on GET /metrics in Prometheus format " +
    '(@refreshkit/opentelemetry); run `pnpm --filter @refreshkit/example-express-app start`, then ' +
    '`curl http://127.0.0.1:3000/metrics`. docs/observability.md lists every metric and span, and the alerts to set. ' +
    'This run ended with:',
);
const shown = [
  'refreshkit_token_requests_total',
  'refreshkit_refreshes_total',
  'refreshkit_token_coalesced_total',
  'refreshkit_endpoint_duration_count',
];
for (const line of summary.metrics) if (shown.some((name) => line.startsWith(name))) console.log(`  ${line}`);

const ok = summary.failedRequests === 0 && summary.refreshTokenReuses === 0;
console.log(ok ? '\nOK: every request succeeded.' : '\nFAILED: some requests failed.');
process.exitCode = ok ? 0 : 1;
