/**
 * Every name this package exports to OpenTelemetry, in one place, so the
 * docs (docs/observability.md), the tests and the code cannot drift apart.
 * Names follow OpenTelemetry's semantic-convention style: dotted, lower
 * case, a namespace first, units in the instrument's `unit`, not its name.
 */

/** The instrumentation scope (meter and tracer) name. */
export const SCOPE_NAME = '@refreshkit/opentelemetry';

/** Metric names. */
export const METRIC = {
  tokenRequests: 'refreshkit.token.requests',
  coalesced: 'refreshkit.token.coalesced',
  refreshes: 'refreshkit.refreshes',
  refreshDuration: 'refreshkit.refresh.duration',
  endpointDuration: 'refreshkit.endpoint.duration',
  endpointActive: 'refreshkit.endpoint.active',
  endpointQueued: 'refreshkit.endpoint.queued',
  saveErrors: 'refreshkit.save.errors',
  storeErrors: 'refreshkit.store.errors',
  grantTransitions: 'refreshkit.grant.transitions',
  fetchRetries: 'refreshkit.fetch.retries',
  keepAliveGrants: 'refreshkit.keep_alive.grants',
} as const;

/** Span names. */
export const SPAN = {
  refresh: 'refreshkit.refresh',
  lock: 'refreshkit.lock',
  endpoint: 'refreshkit.endpoint',
  save: 'refreshkit.save',
  storeWrite: 'refreshkit.store.write',
  wait: 'refreshkit.get_access_token',
  fetch: 'refreshkit.fetch',
} as const;

/** Name of the span event recorded on a `refreshkit.fetch` span when a 401 makes it retry. */
export const RETRY_EVENT = 'refreshkit.fetch.retry';

/** Attribute names. Every value is from a small fixed set, except `refreshkit.key` (opt-in) and `server.address` (an allowed origin's host). */
export const ATTR = {
  cacheName: 'refreshkit.cache.name',
  key: 'refreshkit.key',
  requestOutcome: 'refreshkit.token.outcome',
  refreshReason: 'refreshkit.refresh.reason',
  refreshOutcome: 'refreshkit.refresh.outcome',
  background: 'refreshkit.refresh.background',
  coalesced: 'refreshkit.wait.coalesced',
  endpointOutcome: 'refreshkit.endpoint.outcome',
  storeOperation: 'refreshkit.store.operation',
  grantState: 'refreshkit.grant.state',
  grantPreviousState: 'refreshkit.grant.previous_state',
  keepAliveOutcome: 'refreshkit.keep_alive.outcome',
  fetchRetried: 'refreshkit.fetch.retried',
  errorType: 'error.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  urlScheme: 'url.scheme',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
} as const;

/** Bucket bounds (seconds) for the duration histograms: a token endpoint answers in milliseconds to tens of seconds. */
export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
