import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { context, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { OAuth2Endpoint, TokenCache, type TokenCacheOptions } from '@refreshkit/core';
import { instrument, METRIC, SPAN, type Instrumentation } from '@refreshkit/opentelemetry';
import { RedisTokenStore } from '@refreshkit/redis';
import { ApiServer } from './support/api-server.js';
import { TestRedis } from './support/redis-server.js';
import { json, TokenServer } from './support/token-server.js';
import { waitFor } from './support/wait-for.js';

/** Every value a telemetry attribute must never hold. */
const SENTINEL = 'SENTINEL';
const CLIENT_SECRET = `${SENTINEL}-client-secret`;
const KEY = `user-${SENTINEL}-key`;
const HOUR = 3_600_000;

/** The documented unit of every metric (docs/observability.md). */
const UNITS: Record<string, string> = {
  [METRIC.tokenRequests]: '{request}',
  [METRIC.coalesced]: '{request}',
  [METRIC.refreshes]: '{refresh}',
  [METRIC.refreshDuration]: 's',
  [METRIC.endpointDuration]: 's',
  [METRIC.endpointActive]: '{call}',
  [METRIC.endpointQueued]: '{call}',
  [METRIC.saveErrors]: '{error}',
  [METRIC.storeErrors]: '{error}',
  [METRIC.grantTransitions]: '{grant}',
  [METRIC.fetchRetries]: '{request}',
  [METRIC.keepAliveGrants]: '{grant}',
};

let tokenServer: TokenServer;
let api: ApiServer;
let issued = 0;
/** Parks token answers while set; call it to let them go. */
let held: Promise<void> | undefined;

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  [tokenServer, api] = await Promise.all([TokenServer.start(), ApiServer.start()]);
});
afterAll(async () => {
  context.disable();
  await Promise.all([tokenServer.close(), api.close()]);
});

/** Answers refreshes with sentinel tokens, valid for an hour. */
async function issue(_request: unknown, res: Parameters<typeof json>[0]): Promise<void> {
  await held;
  issued++;
  json(res, 200, {
    access_token: `${SENTINEL}-access-${issued}`,
    refresh_token: `${SENTINEL}-refresh-${issued}`,
    expires_in: 3600,
    token_type: 'Bearer',
  });
}

interface Telemetry {
  readonly meterProvider: MeterProvider;
  readonly tracerProvider: BasicTracerProvider;
  readonly spans: () => ReadableSpan[];
  readonly metrics: () => Promise<MetricData[]>;
}

const handles: Instrumentation[] = [];
const caches: TokenCache[] = [];
const scans: Telemetry[] = [];
afterEach(async () => {
  // Every scenario's exports are scanned for secrets and for the key.
  for (const telemetry of scans.splice(0)) await expectNoSecrets(telemetry);
  for (const handle of handles.splice(0)) handle.remove();
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

function telemetry(): Telemetry {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const result: Telemetry = {
    meterProvider,
    tracerProvider,
    spans: () => spanExporter.getFinishedSpans(),
    metrics: async () => {
      await reader.forceFlush();
      const last = metricExporter.getMetrics().at(-1);
      return last?.scopeMetrics.flatMap((scope) => scope.metrics) ?? [];
    },
  };
  scans.push(result);
  return result;
}

function instrumentedCache(telemetry: Telemetry, options: Partial<TokenCacheOptions> = {}): TokenCache {
  const cache = new TokenCache({
    endpoint: new OAuth2Endpoint({
      tokenUrl: tokenServer.tokenUrl,
      clientId: 'client',
      clientSecret: CLIENT_SECRET,
      allowInsecureHttp: true,
      retry: { maxAttempts: 1 },
    }),
    allowedOrigins: [api.origin],
    refreshJitter: 0,
    ...options,
  });
  caches.push(cache);
  handles.push(instrument(cache, { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider }));
  return cache;
}

/** Sum (or histogram count) per attribute set of metric `name`, as `{ 'a=b,c=d': value }`. */
function points(metrics: MetricData[], name: string): Record<string, number> {
  const metric = metrics.find((m) => m.descriptor.name === name);
  if (metric === undefined) return {};
  const out: Record<string, number> = {};
  for (const point of metric.dataPoints as { attributes: Attributes; value: number | { count: number } }[]) {
    const label = Object.entries(point.attributes)
      .map(([k, v]) => `${k}=${String(v)}`)
      .sort()
      .join(',');
    out[label] = typeof point.value === 'number' ? point.value : point.value.count;
  }
  return out;
}

function named(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Every string a user's backend would receive: names, attributes, events, links, status messages. */
async function exportedText(t: Telemetry): Promise<string> {
  const parts: unknown[] = [];
  for (const span of t.spans()) {
    parts.push(
      span.name,
      span.attributes,
      span.status,
      span.events,
      span.links.map((link) => link.attributes),
    );
  }
  for (const metric of await t.metrics()) {
    parts.push(
      metric.descriptor,
      metric.dataPoints.map((point) => point.attributes),
    );
  }
  return JSON.stringify(parts);
}

async function expectNoSecrets(t: Telemetry): Promise<void> {
  const text = await exportedText(t);
  expect(text).not.toContain(SENTINEL);
  expect(text).not.toContain('/me');
}

describe('@refreshkit/opentelemetry', () => {
  it('counts hits from the cache’s own counters and makes no span for them', async () => {
    const t = telemetry();
    const cache = instrumentedCache(t);
    await cache.set(KEY, {
      accessToken: `${SENTINEL}-a0`,
      refreshToken: `${SENTINEL}-r0`,
      expiresAt: Date.now() + HOUR,
    });
    for (let i = 0; i < 5; i++) await cache.getAccessToken(KEY);
    const metrics = await t.metrics();
    expect(points(metrics, METRIC.tokenRequests)).toEqual({
      'refreshkit.token.outcome=hit': 5,
      'refreshkit.token.outcome=refresh_ahead_hit': 0,
      'refreshkit.token.outcome=waited': 0,
      'refreshkit.token.outcome=failed': 0,
    });
    expect(points(metrics, METRIC.endpointActive)).toEqual({ '': 0 });
    expect(points(metrics, METRIC.endpointQueued)).toEqual({ '': 0 });
    expect(t.spans()).toEqual([]);
  });

  it('records a refresh-ahead hit: served at once, then a background refresh in its own trace, linked to the request', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    let skew = 0;
    const cache = instrumentedCache(t, { refreshWindowMs: 60_000, now: () => Date.now() + skew });
    await cache.set(KEY, {
      accessToken: `${SENTINEL}-a0`,
      refreshToken: `${SENTINEL}-r0`,
      expiresAt: Date.now() + HOUR,
    });
    skew = HOUR - 30_000; // inside the refresh window, still valid
    const tracer = t.tracerProvider.getTracer('app');
    await tracer.startActiveSpan('GET /dashboard', async (request) => {
      expect(await cache.getAccessToken(KEY)).toBe(`${SENTINEL}-a0`);
      request.end();
    });
    await waitFor(async () => named(t.spans(), SPAN.refresh).length === 1, 'the background refresh to end');

    const [refresh] = named(t.spans(), SPAN.refresh);
    const [request] = named(t.spans(), 'GET /dashboard');
    expect(refresh!.attributes).toEqual({
      'refreshkit.refresh.reason': 'refresh_ahead',
      'refreshkit.refresh.background': true,
      'refreshkit.refresh.outcome': 'refreshed',
    });
    expect(parentOf(refresh!)).toBeUndefined();
    expect(refresh!.spanContext().traceId).not.toBe(request!.spanContext().traceId);
    expect(refresh!.links.map((link) => link.context.spanId)).toEqual([request!.spanContext().spanId]);
    const children = t.spans().filter((span) => parentOf(span) === refresh!.spanContext().spanId);
    expect(children.map((span) => span.name)).toEqual([SPAN.endpoint, SPAN.storeWrite]);
    expect(named(t.spans(), SPAN.wait)).toEqual([]);

    const metrics = await t.metrics();
    expect(points(metrics, METRIC.tokenRequests)).toMatchObject({
      'refreshkit.token.outcome=hit': 0,
      'refreshkit.token.outcome=refresh_ahead_hit': 1,
    });
    expect(points(metrics, METRIC.refreshes)).toEqual({
      'refreshkit.refresh.outcome=refreshed,refreshkit.refresh.reason=refresh_ahead': 1,
    });
    expect(points(metrics, METRIC.refreshDuration)).toEqual({
      'refreshkit.refresh.outcome=refreshed,refreshkit.refresh.reason=refresh_ahead': 1,
    });
    expect(points(metrics, METRIC.endpointDuration)).toEqual({ 'refreshkit.endpoint.outcome=success': 1 });
    const units = Object.fromEntries(metrics.map((metric) => [metric.descriptor.name, metric.descriptor.unit]));
    expect(units).toEqual(Object.fromEntries(Object.keys(units).map((name) => [name, UNITS[name]])));
    expect(Object.keys(units).length).toBeGreaterThanOrEqual(7);
  });

  it('records an expiry: callers wait in their own spans, linked to the one refresh under the first request', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    const cache = instrumentedCache(t, { save: () => {} });
    await cache.set(KEY, { accessToken: `${SENTINEL}-a0`, refreshToken: `${SENTINEL}-r0`, expiresAt: Date.now() - 1 });
    const tracer = t.tracerProvider.getTracer('app');
    let release!: () => void;
    held = new Promise((resolve) => (release = resolve));
    const requests = [1, 2, 3].map((n) =>
      tracer.startActiveSpan(`request ${n}`, async (span) => {
        await cache.getAccessToken(KEY);
        span.end();
      }),
    );
    await waitFor(async () => tokenServer.requests.length > 0, 'the token request');
    held = undefined;
    release();
    await Promise.all(requests);

    const spans = t.spans();
    const [refresh] = named(spans, SPAN.refresh);
    const first = named(spans, 'request 1')[0]!;
    expect(named(spans, SPAN.refresh)).toHaveLength(1);
    expect(parentOf(refresh!)).toBe(first.spanContext().spanId);
    expect(refresh!.attributes).toMatchObject({
      'refreshkit.refresh.reason': 'expired',
      'refreshkit.refresh.background': false,
      'refreshkit.refresh.outcome': 'refreshed',
    });
    const waits = named(spans, SPAN.wait);
    expect(
      waits.map((wait) => [wait.attributes['refreshkit.wait.coalesced'], wait.attributes['refreshkit.refresh.reason']]),
    ).toEqual([
      [false, 'expired'],
      [true, 'expired'],
      [true, 'expired'],
    ]);
    for (const [n, wait] of waits.entries()) {
      expect(parentOf(wait)).toBe(named(spans, `request ${n + 1}`)[0]!.spanContext().spanId);
      expect(wait.links.map((link) => link.context.spanId)).toEqual([refresh!.spanContext().spanId]);
    }
    const steps = spans.filter((span) => parentOf(span) === refresh!.spanContext().spanId).map((span) => span.name);
    expect(steps).toEqual([SPAN.endpoint, SPAN.save, SPAN.storeWrite]);

    const metrics = await t.metrics();
    expect(points(metrics, METRIC.tokenRequests)).toMatchObject({
      'refreshkit.token.outcome=waited': 3,
      'refreshkit.token.outcome=failed': 0,
    });
    expect(points(metrics, METRIC.coalesced)).toEqual({ '': 2 });
    expect(points(metrics, METRIC.refreshes)).toEqual({
      'refreshkit.refresh.outcome=refreshed,refreshkit.refresh.reason=expired': 1,
    });
  });

  it('records a failure: the refresh and its waiter fail with a bounded error.type, the grant goes dead', async () => {
    const t = telemetry();
    tokenServer.handler = (_request, res) => json(res, 400, { error: 'invalid_grant', error_description: SENTINEL });
    let saveFails = true;
    const cache = instrumentedCache(t, {
      save: () => {
        if (saveFails) throw new Error(`${SENTINEL} database down`);
      },
    });
    await cache.set(KEY, { accessToken: `${SENTINEL}-a0`, refreshToken: `${SENTINEL}-r0`, expiresAt: Date.now() - 1 });
    saveFails = false;
    await expect(cache.getAccessToken(KEY)).rejects.toMatchObject({ code: 'ERR_REAUTHENTICATION_REQUIRED' });

    const [refresh] = named(t.spans(), SPAN.refresh);
    expect(refresh!.status).toEqual({ code: 2, message: 'ERR_REAUTHENTICATION_REQUIRED' });
    expect(refresh!.attributes).toMatchObject({
      'refreshkit.refresh.outcome': 'failed',
      'error.type': 'ERR_REAUTHENTICATION_REQUIRED',
    });
    const [wait] = named(t.spans(), SPAN.wait);
    expect(wait!.status.code).toBe(2);
    const [endpoint] = named(t.spans(), SPAN.endpoint);
    expect(endpoint!.attributes['error.type']).toBe('ERR_REAUTHENTICATION_REQUIRED');

    const metrics = await t.metrics();
    expect(points(metrics, METRIC.tokenRequests)).toMatchObject({ 'refreshkit.token.outcome=failed': 1 });
    expect(points(metrics, METRIC.refreshes)).toEqual({
      'error.type=ERR_REAUTHENTICATION_REQUIRED,refreshkit.refresh.outcome=failed,refreshkit.refresh.reason=expired': 1,
    });
    expect(points(metrics, METRIC.endpointDuration)).toEqual({
      'error.type=ERR_REAUTHENTICATION_REQUIRED,refreshkit.endpoint.outcome=failure': 1,
    });
    expect(points(metrics, METRIC.grantTransitions)).toEqual({
      'error.type=ERR_REAUTHENTICATION_REQUIRED,refreshkit.grant.previous_state=healthy,refreshkit.grant.state=dead': 1,
    });
    expect(points(metrics, METRIC.saveErrors)).toEqual({ 'error.type=Error': 1 });
  });

  it('records the 401 retry of cache.fetch: one span with the retry as an event, the wait and refresh under it', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    const cache = instrumentedCache(t);
    await cache.set(KEY, {
      accessToken: `${SENTINEL}-a0`,
      refreshToken: `${SENTINEL}-r0`,
      expiresAt: Date.now() + HOUR,
    });
    api.isValid = (token) => token !== `${SENTINEL}-a0`;
    try {
      const response = await cache.fetch(KEY, `${api.origin}/me?api_key=${SENTINEL}-query`, {
        method: 'post',
        body: 'x',
      });
      expect(response.status).toBe(200);
    } finally {
      api.isValid = () => true;
    }
    const [fetchSpan] = named(t.spans(), SPAN.fetch);
    const port = Number(new URL(api.origin).port);
    expect(fetchSpan!.attributes).toEqual({
      'http.request.method': 'POST',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': port,
      'refreshkit.fetch.retried': true,
      'http.response.status_code': 200,
    });
    expect(fetchSpan!.events.map((event) => [event.name, event.attributes])).toEqual([
      ['refreshkit.fetch.retry', { 'http.response.status_code': 401 }],
    ]);
    const under = t.spans().filter((span) => parentOf(span) === fetchSpan!.spanContext().spanId);
    expect(under.map((span) => [span.name, span.attributes['refreshkit.refresh.reason']]).sort()).toEqual(
      [
        [SPAN.wait, 'invalidated'],
        [SPAN.refresh, 'invalidated'],
      ].sort(),
    );
    expect(points(await t.metrics(), METRIC.fetchRetries)).toEqual({ 'server.address=127.0.0.1': 1 });
    expect(Object.hasOwn(cache, 'fetch')).toBe(true);
  });

  it('records a Redis lock wait: the second process’s refresh waits on the lock, then reuses the first one’s tokens', async () => {
    const redis = await TestRedis.start();
    try {
      tokenServer.handler = issue;
      const prefix = `otel-${Date.now()}:`;
      const stores = [0, 1].map(() => new RedisTokenStore({ redis: redis.url, prefix, lockPollIntervalMs: 10 }));
      const [ta, tb] = [telemetry(), telemetry()];
      const a = instrumentedCache(ta, { store: stores[0] });
      const b = instrumentedCache(tb, { store: stores[1] });
      await a.set(KEY, { accessToken: `${SENTINEL}-a0`, refreshToken: `${SENTINEL}-r0`, expiresAt: Date.now() - 1 });
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      const first = a.getAccessToken(KEY);
      await waitFor(
        async () => tokenServer.requests.length > 0 && named(ta.spans(), SPAN.lock).length === 1,
        'A to call the endpoint',
      );
      const requestsBefore = tokenServer.requests.length;
      let bLocking = false;
      b.on('refreshStep', ({ step }) => (bLocking ||= step === 'lock'));
      const second = b.getAccessToken(KEY);
      // B has started waiting for the lock A holds.
      await waitFor(async () => bLocking, 'B to ask for the lock');
      held = undefined;
      release();
      expect(await second).toBe(await first);
      expect(tokenServer.requests.length).toBe(requestsBefore);

      const [refreshB] = named(tb.spans(), SPAN.refresh);
      expect(refreshB!.attributes['refreshkit.refresh.outcome']).toBe('reused');
      const stepsB = tb.spans().filter((span) => parentOf(span) === refreshB!.spanContext().spanId);
      expect(stepsB.map((span) => span.name)).toEqual([SPAN.lock]);
      const [writeA] = named(ta.spans(), SPAN.storeWrite);
      // B held no lock until A had written its tokens: its lock span ends after A's write.
      expect(hrMs(stepsB[0]!.endTime)).toBeGreaterThanOrEqual(hrMs(writeA!.endTime));
      expect(points(await tb.metrics(), METRIC.refreshes)).toEqual({
        'refreshkit.refresh.outcome=reused,refreshkit.refresh.reason=expired': 1,
      });
      await Promise.all(stores.map((store) => store.close()));
    } finally {
      await redis.stop();
    }
  }, 20_000);

  it('records the key only through the opt-in keyAttribute hook, and a cacheName on everything', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: tokenServer.tokenUrl, clientId: 'c', allowInsecureHttp: true }),
    });
    caches.push(cache);
    handles.push(
      instrument(cache, {
        meterProvider: t.meterProvider,
        tracerProvider: t.tracerProvider,
        cacheName: 'crm',
        keyAttribute: (key) => (key === 'tenant-a' ? 'tenant-a' : undefined),
      }),
    );
    await cache.set('tenant-a', {
      accessToken: `${SENTINEL}-a`,
      refreshToken: `${SENTINEL}-ra`,
      expiresAt: Date.now() - 1,
    });
    await cache.set(KEY, { accessToken: `${SENTINEL}-b`, refreshToken: `${SENTINEL}-rb`, expiresAt: Date.now() - 1 });
    await Promise.all([cache.getAccessToken('tenant-a'), cache.getAccessToken(KEY)]);
    const refreshes = named(t.spans(), SPAN.refresh).map((span) => span.attributes['refreshkit.key']);
    expect(refreshes.sort()).toEqual(['tenant-a', undefined]);
    for (const span of t.spans()) expect(span.attributes['refreshkit.cache.name']).toBe('crm');
    expect(points(await t.metrics(), METRIC.refreshes)).toEqual({
      'refreshkit.cache.name=crm,refreshkit.key=tenant-a,refreshkit.refresh.outcome=refreshed,refreshkit.refresh.reason=expired': 1,
      'refreshkit.cache.name=crm,refreshkit.refresh.outcome=refreshed,refreshkit.refresh.reason=expired': 1,
    });
  });

  it('records no key, and still refreshes, when the keyAttribute hook throws', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: tokenServer.tokenUrl, clientId: 'c', allowInsecureHttp: true }),
    });
    caches.push(cache);
    const keyAttribute = (): string => {
      throw new Error('hook bug');
    };
    handles.push(instrument(cache, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider, keyAttribute }));
    await cache.set(KEY, { accessToken: `${SENTINEL}-a`, refreshToken: `${SENTINEL}-r`, expiresAt: Date.now() - 1 });
    expect(await cache.getAccessToken(KEY)).toMatch(/^SENTINEL-access-/);
    const [refresh] = named(t.spans(), SPAN.refresh);
    expect(refresh!.attributes['refreshkit.refresh.outcome']).toBe('refreshed');
    expect(refresh!.attributes).not.toHaveProperty('refreshkit.key');
  });

  it('stops recording once removed, and puts cache.fetch back', async () => {
    const t = telemetry();
    tokenServer.handler = issue;
    const cache = instrumentedCache(t);
    handles.at(-1)!.remove();
    handles.at(-1)!.remove();
    expect(Object.hasOwn(cache, 'fetch')).toBe(false);
    await cache.set(KEY, { accessToken: `${SENTINEL}-a0`, refreshToken: `${SENTINEL}-r0`, expiresAt: Date.now() - 1 });
    await cache.getAccessToken(KEY);
    await cache.fetch(KEY, `${api.origin}/me`);
    expect(t.spans()).toEqual([]);
    expect(await t.metrics()).toEqual([]);
    expect(cache.listenerCount('refreshStart')).toBe(0);
  });

  it('rejects bad options with a TypeError that says how to fix them', () => {
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: 'https://idp.example/token', clientId: 'c' }),
    });
    expect(() => instrument(cache, { cacheName: '' })).toThrow(
      new TypeError('Expected `cacheName` to be a string of 1 to 64 characters, got `` (string)'),
    );
    expect(() => instrument(cache, { meterProvider: {} as never })).toThrow(
      new TypeError('Expected `meterProvider` to be an OpenTelemetry MeterProvider (with `getMeter`)'),
    );
    expect(() => instrument({} as never)).toThrow(
      new TypeError('Expected `cache` to be a TokenCache from @refreshkit/core'),
    );
    expect(cache.listenerCount('refreshStart')).toBe(0);
  });

  it('documents every metric and span in docs/observability.md', () => {
    const doc = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8');
    for (const name of [...Object.values(METRIC), ...Object.values(SPAN)]) expect(doc).toContain(`\`${name}\``);
    const escape = (text: string): string => text.replace(/[.{}]/g, '\\$&');
    for (const [name, unit] of Object.entries(UNITS)) {
      expect(doc).toMatch(new RegExp(`\\|\\s*\`${escape(name)}\`\\s*\\|\\s*\`${escape(unit)}\``));
    }
  });
});

function hrMs([seconds, nanos]: [number, number]): number {
  return seconds * 1_000 + nanos / 1e6;
}
