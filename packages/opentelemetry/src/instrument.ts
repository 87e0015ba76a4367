import { metrics, trace, type Attributes } from '@opentelemetry/api';
import type { TokenCache, TokenCacheEvents } from '@refreshkit/core';
import { CacheMetrics } from './cache-metrics.js';
import { CacheTraces } from './cache-traces.js';
import { validateInstrumentOptions, type InstrumentOptions } from './instrument-options.js';
import { ATTR, SCOPE_NAME } from './names.js';
import { wrapFetch } from './wrap-fetch.js';

/** The package version, reported as the instrumentation scope's version. */
const SCOPE_VERSION = '0.1.0';

/** What {@link instrument} returns: removes the instrumentation. */
export interface Instrumentation {
  /**
   * Stops recording: removes the event listeners, the observable instruments'
   * callbacks and the `cache.fetch` wrapper. Spans already started still end.
   * Calling it again does nothing.
   */
  remove(): void;
}

type Listeners = { [Name in keyof TokenCacheEvents]?: (payload: TokenCacheEvents[Name]) => void };

const NO_ATTRIBUTES: Attributes = Object.freeze({});

/**
 * Records OpenTelemetry metrics and spans for `cache`, through
 * `@opentelemetry/api` only (bring any SDK). Cache hits cost nothing more:
 * they are counted by the cache and read when metrics are collected, and
 * make no span. Refreshes, waiting callers, the token-endpoint call, the
 * lock, the `save` hook, the store write and `cache.fetch` (with its 401
 * retry) become spans; see docs/observability.md for every name.
 * No attribute carries a token, a secret, a URL's path or query, or (unless
 * `keyAttribute` says so) a key.
 *
 * @example
 * const handle = instrument(cache, { meterProvider, tracerProvider });
 * // ... on shutdown
 * handle.remove();
 *
 * @throws TypeError when `cache` is not a TokenCache or an option is invalid.
 */
export function instrument(cache: TokenCache, options?: InstrumentOptions): Instrumentation {
  if (typeof (cache as Partial<TokenCache> | undefined)?.stats !== 'function' || typeof cache.on !== 'function') {
    throw new TypeError('Expected `cache` to be a TokenCache from @refreshkit/core');
  }
  const { meterProvider, tracerProvider, cacheName, keyAttribute } = validateInstrumentOptions(options);
  const base: Attributes = Object.freeze(cacheName === undefined ? {} : { [ATTR.cacheName]: cacheName });
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE_NAME, SCOPE_VERSION);
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE_NAME, SCOPE_VERSION);
  const recorded = new CacheMetrics(meter, cache, base);
  const traced = new CacheTraces(tracer, base);
  const keyAttributes = (key: string): Attributes => {
    if (keyAttribute === undefined) return NO_ATTRIBUTES;
    let value: unknown;
    try {
      value = keyAttribute(key);
    } catch {
      // A throwing hook must not break the refresh it describes (listeners run inside it): record no key.
      return NO_ATTRIBUTES;
    }
    return typeof value === 'string' ? { [ATTR.key]: value } : NO_ATTRIBUTES;
  };

  const listeners: Listeners = {
    refreshStart: (event) => {
      const extra = keyAttributes(event.key);
      const span = traced.startRefresh(event, extra);
      const startedAt = performance.now();
      void event.settled.then((settlement) => {
        recorded.recordRefresh(event.reason, settlement, (performance.now() - startedAt) / 1_000, extra);
        traced.endRefresh(event.key, span, settlement);
      });
    },
    refreshStep: (event) => {
      traced.step(event);
      const startedAt = performance.now();
      if (event.step === 'endpoint') {
        void event.settled.then((settlement) =>
          recorded.recordEndpoint(settlement, (performance.now() - startedAt) / 1_000),
        );
      } else if (event.step === 'lock' || event.step === 'store_write') {
        const operation = event.step === 'lock' ? 'lock' : 'write';
        void event.settled.then((settlement) => {
          if (!settlement.ok) recorded.recordStoreError(operation, settlement.error);
        });
      }
    },
    waitStart: (event) => {
      traced.wait(event, keyAttributes(event.key));
      void event.settled.then((settlement) => recorded.recordWait(settlement));
    },
    fetchRetry: (event) => {
      recorded.recordFetchRetry(event.origin);
      traced.retry();
    },
    saveError: (event) => recorded.recordSaveError(event.error),
    grantFailing: (event) => recorded.recordGrantTransition(event),
    grantDead: (event) => recorded.recordGrantTransition(event),
    grantRecovered: (event) => recorded.recordGrantTransition(event),
    sweep: (event) => recorded.recordSweep(event),
  };
  const on = cache.on.bind(cache) as (name: string, listener: (payload: never) => void) => unknown;
  const off = cache.off.bind(cache) as (name: string, listener: (payload: never) => void) => unknown;
  for (const [name, listener] of Object.entries(listeners)) on(name, listener);
  const unwrap = wrapFetch(cache, traced, keyAttributes);

  let removed = false;
  return {
    remove() {
      if (removed) return;
      removed = true;
      for (const [name, listener] of Object.entries(listeners)) off(name, listener);
      unwrap();
      recorded.remove();
    },
  };
}
