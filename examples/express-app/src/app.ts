import express, { type ErrorRequestHandler, type Express, type Request } from 'express';
import type { TokenCache } from '@refreshkit/core';
import { freshTokens } from '@refreshkit/express';
import type { PrometheusMetrics } from './prometheus-metrics.js';

/** Options of {@link createExpressApp}. */
export interface ExpressAppOptions {
  /** The cache holding each user's tokens. */
  readonly cache: TokenCache;
  /** Origin of the protected API the app calls (must be in the cache's `allowedOrigins`). */
  readonly apiOrigin: string;
  /** When given, `GET /metrics` serves the cache's metrics to Prometheus (see `prometheusMetrics`). */
  readonly metrics?: PrometheusMetrics;
}

/**
 * An Express app whose `/profile` handler calls the protected API with the
 * signed-in user's fresh bearer. The user id comes from an `x-user-id`
 * header, standing in for whatever authentication the real app uses
 * (a session, a JWT). With `metrics`, `/metrics` serves the cache's
 * OpenTelemetry metrics in Prometheus' format.
 */
export function createExpressApp({ cache, apiOrigin, metrics }: ExpressAppOptions): Express {
  const app = express();
  // Before the token middleware: a scrape is no user's request.
  if (metrics !== undefined) app.get('/metrics', (req, res) => metrics.handle(req, res));
  app.use(freshTokens<Request>({ cache, key: (req) => req.get('x-user-id') }));

  app.get('/profile', async (req, res, next) => {
    try {
      const upstream = await req.tokens.fetch(`${apiOrigin}/me`);
      res.status(upstream.status).json(await upstream.json());
    } catch (error) {
      next(error);
    }
  });

  const answerErrors: ErrorRequestHandler = (error, _req, res, _next) => {
    const {
      status = 500,
      expose = false,
      headers = {},
    } = error as {
      status?: number;
      expose?: boolean;
      headers?: Record<string, string>;
    };
    res
      .status(status)
      .set(headers)
      .json({ error: expose ? (error as Error).message : 'Internal error' });
  };
  app.use(answerErrors);
  return app;
}

export { prometheusMetrics, type PrometheusMetrics } from './prometheus-metrics.js';
