import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { RefreshSettlement, RefreshStep, Settlement, TokenCacheEvents } from '@refreshkit/core';
import { errorTypeOf } from './error-type.js';
import { ATTR, RETRY_EVENT, SPAN } from './names.js';

const STEP_SPAN: Record<RefreshStep, string> = {
  lock: SPAN.lock,
  endpoint: SPAN.endpoint,
  save: SPAN.save,
  store_write: SPAN.storeWrite,
};

/** Marks `span` failed with a bounded `error.type`; the error's message is never recorded (it may name a key or URL). */
export function failSpan(span: Span, error: unknown): void {
  const type = errorTypeOf(error);
  span.setAttribute(ATTR.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/**
 * The spans of one instrumented cache. A refresh is a span; its steps (lock
 * wait, endpoint call, save, store write) are its children. A caller that
 * waits is a span too, child of whatever the caller was doing and linked to
 * the refresh it waited for (which may belong to another request's trace),
 * so a slow request shows why. A refresh nobody waits for (refresh-ahead,
 * keep-alive) starts its own trace, linked to the request that set it off.
 * A hit makes no span: no event is emitted for it.
 */
export class CacheTraces {
  readonly #tracer: Tracer;
  readonly #base: Attributes;
  /** The running refresh of each key (a cache runs one per key at a time). */
  readonly #refreshes = new Map<string, Span>();
  /** The `refreshkit.fetch` spans this instrumentation started, to find them as the active span. */
  readonly #fetchSpans = new WeakSet<Span>();

  constructor(tracer: Tracer, base: Attributes) {
    this.#tracer = tracer;
    this.#base = base;
  }

  /** Starts the span of a refresh; the caller ends it with {@link endRefresh}. */
  startRefresh(event: TokenCacheEvents['refreshStart'], extra: Attributes): Span {
    const active = context.active();
    const attributes: Attributes = {
      ...this.#base,
      ...extra,
      [ATTR.refreshReason]: event.reason,
      [ATTR.background]: event.background,
    };
    let span: Span;
    if (event.background) {
      const trigger = trace.getSpanContext(active);
      const links: Link[] = trigger === undefined ? [] : [{ context: trigger }];
      span = this.#tracer.startSpan(SPAN.refresh, { kind: SpanKind.INTERNAL, attributes, links, root: true }, active);
    } else {
      span = this.#tracer.startSpan(SPAN.refresh, { kind: SpanKind.INTERNAL, attributes }, active);
    }
    this.#refreshes.set(event.key, span);
    return span;
  }

  endRefresh(key: string, span: Span, settlement: RefreshSettlement): void {
    if (this.#refreshes.get(key) === span) this.#refreshes.delete(key);
    if (settlement.ok) span.setAttribute(ATTR.refreshOutcome, settlement.refreshed ? 'refreshed' : 'reused');
    else {
      span.setAttribute(ATTR.refreshOutcome, 'failed');
      failSpan(span, settlement.error);
    }
    span.end();
  }

  /** A step of the running refresh of `key`: a child span ended when the step settles. */
  step(event: TokenCacheEvents['refreshStep']): void {
    const parent = this.#refreshes.get(event.key);
    if (parent === undefined) return;
    const span = this.#tracer.startSpan(
      STEP_SPAN[event.step],
      { kind: SpanKind.INTERNAL, attributes: this.#base },
      trace.setSpan(context.active(), parent),
    );
    void event.settled.then((settlement) => this.#end(span, settlement));
  }

  /** A caller waiting for a refresh: a span under the caller's own, linked to the refresh. */
  wait(event: TokenCacheEvents['waitStart'], extra: Attributes): void {
    const refresh = this.#refreshes.get(event.key);
    const span = this.#tracer.startSpan(
      SPAN.wait,
      {
        kind: SpanKind.INTERNAL,
        attributes: { ...this.#base, ...extra, [ATTR.refreshReason]: event.reason, [ATTR.coalesced]: event.coalesced },
        links: refresh === undefined ? [] : [{ context: refresh.spanContext() }],
      },
      context.active(),
    );
    void event.settled.then((settlement) => this.#end(span, settlement));
  }

  /** Starts the span of one `cache.fetch` call (see `wrapFetch`). */
  startFetch(attributes: Attributes): Span {
    const span = this.#tracer.startSpan(
      SPAN.fetch,
      // INTERNAL: the HTTP client instrumentation, when installed, adds the CLIENT span under it.
      { kind: SpanKind.INTERNAL, attributes: { ...this.#base, ...attributes, [ATTR.fetchRetried]: false } },
      context.active(),
    );
    this.#fetchSpans.add(span);
    return span;
  }

  /** A 401 made the active `cache.fetch` call retry: an event on its span. */
  retry(): void {
    const span = trace.getActiveSpan();
    if (span === undefined || !this.#fetchSpans.has(span)) return;
    span.setAttribute(ATTR.fetchRetried, true);
    span.addEvent(RETRY_EVENT, { [ATTR.httpStatus]: 401 });
  }

  #end(span: Span, settlement: Settlement): void {
    if (!settlement.ok) failSpan(span, settlement.error);
    span.end();
  }
}
