// Runs the Express example against an embedded authorization server and API:
// `pnpm --filter @refreshkit/example-express-app start`, then
// `curl -H 'x-user-id: alice' http://127.0.0.1:3000/profile`, and `curl http://127.0.0.1:3000/metrics`.
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';
import { createExpressApp, prometheusMetrics } from './app.js';

const authorizationServer = await AuthorizationServer.start();
const api = await ProtectedApi.start(authorizationServer);
const cache = sandboxCache(authorizationServer, api.origin);
await cache.set('alice', await authorizationServer.login('alice'));
const port = Number(process.env.PORT ?? 3000);
const metrics = prometheusMetrics(cache);
createExpressApp({ cache, apiOrigin: api.origin, metrics }).listen(port, '127.0.0.1', () => {
  console.log(
    `Express example on http://127.0.0.1:${port}; try: curl -H 'x-user-id: alice' http://127.0.0.1:${port}/profile`,
  );
  console.log(`Metrics for Prometheus: curl http://127.0.0.1:${port}/metrics (see docs/observability.md)`);
});
