import type { Attributes, BatchObservableCallback, Counter, Histogram, Meter, Observable } from '@opentelemetry/api';
import type {
  GrantHealthEvent,
  RefreshReason,
  RefreshSettlement,
  Settlement,
  SweepResult,
  TokenCache,
} from '@refreshkit/core';
import { errorTypeOf } from './error-type.js';
import { ATTR, DURATION_BUCKETS_S, METRIC } from './names.js';

/** Counters of one cache as `stats()` reports them, taken when instrumentation starts. */
interface Baseline {
  readonly hits: number;
  readonly refreshAheadHits: number;
  readonly coalesced: number;
}

/**
 * The metrics of one instrumented cache. Hits are never counted here: the
 * cache already counts them (`stats()`), and observable instruments read
 * those counters when the SDK collects, so a hit costs nothing more.
 * Everything else is recorded from the cache's events, off the hit path.
 */
export class CacheMetrics {
  readonly #meter: Meter;
  readonly #cache: TokenCache;
  readonly #base: Attributes;
  readonly #baseline: Baseline;
  readonly #callback: BatchObservableCallback;
  readonly #observables: Observable[];
  readonly #refreshes: Counter;
  readonly #refreshDuration: Histogram;
  readonly #endpointDuration: Histogram;
  readonly #saveErrors: Counter;
  readonly #storeErrors: Counter;
  readonly #grantTransitions: Counter;
  readonly #fetchRetries: Counter;
  readonly #keepAliveGrants: Counter;
  #waited = 0;
  #failed = 0;

  constructor(meter: Meter, cache: TokenCache, base: Attributes) {
    this.#meter = meter;
    this.#cache = cache;
    this.#base = base;
    const stats = cache.stats();
    this.#baseline = { hits: stats.hits, refreshAheadHits: stats.refreshAheadHits, coalesced: stats.coalesced };

    const requests = meter.createObservableCounter(METRIC.tokenRequests, {
      description: 'Calls for a token, by outcome: hit, refresh_ahead_hit (served, refresh started), waited, failed',
      unit: '{request}',
    });
    const coalesced = meter.createObservableCounter(METRIC.coalesced, {
      description: 'Callers that joined a refresh already in flight instead of starting one',
      unit: '{request}',
    });
    const active = meter.createObservableUpDownCounter(METRIC.endpointActive, {
      description: 'Token-endpoint calls running now',
      unit: '{call}',
    });
    const queued = meter.createObservableUpDownCounter(METRIC.endpointQueued, {
      description: 'Token-endpoint calls waiting for a slot (endpointConcurrency, endpointRateLimit)',
      unit: '{call}',
    });
    // Attribute sets made once: a collection allocates only what the SDK does.
    const hit = { ...base, [ATTR.requestOutcome]: 'hit' };
    const refreshAheadHit = { ...base, [ATTR.requestOutcome]: 'refresh_ahead_hit' };
    const waited = { ...base, [ATTR.requestOutcome]: 'waited' };
    const failed = { ...base, [ATTR.requestOutcome]: 'failed' };
    this.#callback = (result) => {
      const now = this.#cache.stats();
      const aheadHits = now.refreshAheadHits - this.#baseline.refreshAheadHits;
      result.observe(requests, now.hits - this.#baseline.hits - aheadHits, hit);
      result.observe(requests, aheadHits, refreshAheadHit);
      result.observe(requests, this.#waited, waited);
      result.observe(requests, this.#failed, failed);
      result.observe(coalesced, now.coalesced - this.#baseline.coalesced, base);
      const load = this.#cache.endpointLoad;
      result.observe(active, load.running, base);
      result.observe(queued, load.queued, base);
    };
    this.#observables = [requests, coalesced, active, queued];
    meter.addBatchObservableCallback(this.#callback, this.#observables);

    const seconds = { unit: 's', advice: { explicitBucketBoundaries: DURATION_BUCKETS_S } };
    this.#refreshes = meter.createCounter(METRIC.refreshes, {
      description: 'Refreshes run by this process, by reason and outcome (refreshed, reused, failed)',
      unit: '{refresh}',
    });
    this.#refreshDuration = meter.createHistogram(METRIC.refreshDuration, {
      description: 'Time from the start of a refresh to its end: lock wait, endpoint queue and call, save, store write',
      ...seconds,
    });
    this.#endpointDuration = meter.createHistogram(METRIC.endpointDuration, {
      description: 'Time of one token-endpoint call (with its own retries), once it left the queue',
      ...seconds,
    });
    this.#saveErrors = meter.createCounter(METRIC.saveErrors, {
      description: 'Failed calls of the `save` hook (each is retried with backoff)',
      unit: '{error}',
    });
    this.#storeErrors = meter.createCounter(METRIC.storeErrors, {
      description: 'Store operations of a refresh that failed: taking the lock, writing the new set',
      unit: '{error}',
    });
    this.#grantTransitions = meter.createCounter(METRIC.grantTransitions, {
      description: 'Grants entering a health state (healthy, failing, dead), with the state left',
      unit: '{grant}',
    });
    this.#fetchRetries = meter.createCounter(METRIC.fetchRetries, {
      description: 'Outbound calls of cache.fetch retried with a new token after a 401',
      unit: '{request}',
    });
    this.#keepAliveGrants = meter.createCounter(METRIC.keepAliveGrants, {
      description: 'Grants handled by keep-alive sweeps, by outcome (refreshed, failed, skipped)',
      unit: '{grant}',
    });
  }

  /** A waiting caller's wait ended. */
  recordWait(settlement: Settlement): void {
    if (settlement.ok) this.#waited++;
    else this.#failed++;
  }

  /** A refresh ended after `seconds`. `extra` holds the opt-in key attribute. */
  recordRefresh(reason: RefreshReason, settlement: RefreshSettlement, seconds: number, extra: Attributes): void {
    const attributes: Attributes = {
      ...this.#base,
      ...extra,
      [ATTR.refreshReason]: reason,
      [ATTR.refreshOutcome]: settlement.ok ? (settlement.refreshed ? 'refreshed' : 'reused') : 'failed',
      ...(!settlement.ok && { [ATTR.errorType]: errorTypeOf(settlement.error) }),
    };
    this.#refreshes.add(1, attributes);
    this.#refreshDuration.record(seconds, attributes);
  }

  /** A token-endpoint call ended after `seconds`. */
  recordEndpoint(settlement: Settlement, seconds: number): void {
    this.#endpointDuration.record(seconds, {
      ...this.#base,
      [ATTR.endpointOutcome]: settlement.ok ? 'success' : 'failure',
      ...(!settlement.ok && { [ATTR.errorType]: errorTypeOf(settlement.error) }),
    });
  }

  /** A store operation of a refresh failed. */
  recordStoreError(operation: 'lock' | 'write', error: unknown): void {
    this.#storeErrors.add(1, { ...this.#base, [ATTR.storeOperation]: operation, [ATTR.errorType]: errorTypeOf(error) });
  }

  /** The `save` hook failed. */
  recordSaveError(error: unknown): void {
    this.#saveErrors.add(1, { ...this.#base, [ATTR.errorType]: errorTypeOf(error) });
  }

  /** A grant changed health state. */
  recordGrantTransition(event: GrantHealthEvent): void {
    this.#grantTransitions.add(1, {
      ...this.#base,
      [ATTR.grantState]: event.state,
      [ATTR.grantPreviousState]: event.previous,
      ...(event.code !== undefined && { [ATTR.errorType]: errorTypeOf({ code: event.code }) }),
    });
  }

  /** `cache.fetch` retried after a 401 from `origin` (one of `allowedOrigins`). */
  recordFetchRetry(origin: string): void {
    this.#fetchRetries.add(1, { ...this.#base, [ATTR.serverAddress]: hostOf(origin) });
  }

  /** A keep-alive sweep ended. */
  recordSweep(result: SweepResult): void {
    for (const outcome of ['refreshed', 'failed', 'skipped'] as const) {
      if (result[outcome] > 0)
        this.#keepAliveGrants.add(result[outcome], { ...this.#base, [ATTR.keepAliveOutcome]: outcome });
    }
  }

  /** Stops the observable instruments reading this cache. */
  remove(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, this.#observables);
  }
}

/** The host of an origin (`https://api.example.com:8443` → `api.example.com`). */
export function hostOf(origin: string): string {
  try {
    return new URL(origin).hostname;
  } catch {
    return '_OTHER';
  }
}
