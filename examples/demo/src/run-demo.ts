import type { AddressInfo } from 'node:net';
import { createExpressApp, prometheusMetrics } from '@refreshkit/example-express-app';
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** How long to drive traffic. */
  readonly durationMs: number;
  /** Access-token lifetime at the authorization server, in seconds. */
  readonly accessTokenTtlSeconds: number;
  /** Signed-in users whose tokens the app keeps fresh. */
  readonly users: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Called about twice a second with the figures so far. */
  readonly onProgress?: (progress: DemoSummary) => void;
}

/** What the demo measured. */
export interface DemoSummary {
  readonly requests: number;
  readonly failedRequests: number;
  readonly upstream401s: number;
  readonly tokenEndpointCalls: number;
  readonly refreshTokenReuses: number;
  readonly waitersCoalesced: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly elapsedMs: number;
  /**
   * The `refreshkit_*` samples the app's `/metrics` served at the end (Prometheus
   * text format, from `@refreshkit/opentelemetry`); empty in progress reports.
   */
  readonly metrics: readonly string[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Starts a real authorization server (oidc-provider, refresh-token rotation
 * on, access tokens of a few seconds), a protected API that introspects
 * every bearer, and the Express example app; signs users in; then drives
 * concurrent traffic across several token expiries.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: options.accessTokenTtlSeconds });
  const api = await ProtectedApi.start(authorizationServer);
  const cache = sandboxCache(authorizationServer, api.origin);
  const users = Array.from({ length: options.users }, (_, i) => `user-${i + 1}`);
  for (const user of users) await cache.set(user, await authorizationServer.login(user));
  const baseline = { ...authorizationServer.stats };

  const metrics = prometheusMetrics(cache);
  const server = createExpressApp({ cache, apiOrigin: api.origin, metrics }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const appOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const appUrl = `${appOrigin}/profile`;

  const latencies: number[] = [];
  let failedRequests = 0;
  const started = performance.now();
  const summary = (): DemoSummary => {
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      requests: latencies.length,
      failedRequests,
      upstream401s: api.count(401),
      tokenEndpointCalls: authorizationServer.stats.refreshGrants - baseline.refreshGrants,
      refreshTokenReuses: authorizationServer.stats.refreshTokenReuses,
      waitersCoalesced: cache.stats().coalesced,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      elapsedMs: performance.now() - started,
      metrics: [],
    };
  };
  const progress = setInterval(() => options.onProgress?.(summary()), 500);

  let next = 0;
  const deadline = started + options.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const user = users[next++ % users.length]!;
      const sent = performance.now();
      try {
        const response = await fetch(appUrl, { headers: { 'x-user-id': user } });
        await response.arrayBuffer();
        if (response.status !== 200) failedRequests++;
      } catch {
        failedRequests++;
      }
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  clearInterval(progress);

  const scrape = await (await fetch(`${appOrigin}/metrics`)).text();
  const result = { ...summary(), metrics: scrape.split('\n').filter((line) => line.startsWith('refreshkit_')) };
  await metrics.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all([api.close(), authorizationServer.close()]);
  return result;
}
