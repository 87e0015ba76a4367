import type { MeterProvider, TracerProvider } from '@opentelemetry/api';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Where metrics go.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider;
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()`)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Tells several instrumented caches apart: set as `refreshkit.cache.name`
   * on every metric and span of this cache. Needed when two caches share a
   * meter provider, since their counters would otherwise be one series.
   * Range: 1 to 64 characters.
   */
  readonly cacheName?: string;
  /**
   * Opt-in `refreshkit.key` attribute on refresh, wait and fetch spans and on
   * refresh metrics: return the value to record for a key, or `undefined` to
   * record none. Only for apps with few keys (service identities, tenants):
   * each value is a new time series. Keys are never recorded without it.
   * Never return anything secret.
   */
  readonly keyAttribute?: (key: string) => string | undefined;
}

/** Validated options, defaults not yet applied (the providers are read at `instrument` time). */
export function validateInstrumentOptions(options: InstrumentOptions | undefined): InstrumentOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got \`${String(options)}\` (${typeof options})`);
  }
  const { meterProvider, tracerProvider, cacheName, keyAttribute } = options;
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') {
    throw new TypeError('Expected `meterProvider` to be an OpenTelemetry MeterProvider (with `getMeter`)');
  }
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') {
    throw new TypeError('Expected `tracerProvider` to be an OpenTelemetry TracerProvider (with `getTracer`)');
  }
  if (cacheName !== undefined && (typeof cacheName !== 'string' || cacheName.length < 1 || cacheName.length > 64)) {
    throw new TypeError(
      `Expected \`cacheName\` to be a string of 1 to 64 characters, got \`${String(cacheName)}\` (${typeof cacheName})`,
    );
  }
  if (keyAttribute !== undefined && typeof keyAttribute !== 'function') {
    throw new TypeError(`Expected \`keyAttribute\` to be a function, got ${typeof keyAttribute}`);
  }
  return { ...options };
}
