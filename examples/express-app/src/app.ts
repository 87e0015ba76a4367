import express, { type ErrorRequestHandler, type Express, type Request } from 'express';
import type { TokenCache } from '@refreshkit/core';
import { freshTokens } from '@refreshkit/express';

/** Options of {@link createExpressApp}. */
export interface ExpressAppOptions {
  /** The cache holding each user's tokens. */
  readonly cache: TokenCache;
  /** Origin of the protected API the app calls (must be in the cache's `allowedOrigins`). */
  readonly apiOrigin: string;
}

/**
 * An Express app whose `/profile` handler calls the protected API with the
 * signed-in user's fresh bearer. The user id comes from an `x-user-id`
 * header, standing in for whatever authentication the real app uses
 * (a session, a JWT).
 */
export function createExpressApp({ cache, apiOrigin }: ExpressAppOptions): Express {
  const app = express();
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
