import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { TokenCache } from '@refreshkit/core';
import { instrument, type Instrumentation } from '@refreshkit/opentelemetry';

/** The cache's metrics in Prometheus' text format, served by the app itself. */
export interface PrometheusMetrics {
  /** Answers a scrape (mount it on `GET /metrics`). */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Removes the instrumentation and shuts the meter provider down. */
  readonly close: () => Promise<void>;
}

/**
 * Instruments `cache` with `@refreshkit/opentelemetry` and exposes its
 * metrics through OpenTelemetry's Prometheus exporter, without the
 * exporter's own server (`preventServerStart`): the app serves `/metrics`
 * on its own port, so a scrape needs no second port.
 */
export function prometheusMetrics(cache: TokenCache): PrometheusMetrics {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const instrumentation: Instrumentation = instrument(cache, { meterProvider });
  return {
    handle: (req, res) => exporter.getMetricsRequestHandler(req, res),
    close: async () => {
      instrumentation.remove();
      await meterProvider.shutdown();
    },
  };
}
