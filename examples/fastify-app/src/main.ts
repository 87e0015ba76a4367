// Runs the Fastify example against an embedded authorization server and API:
// `pnpm --filter @refreshkit/example-fastify-app start`, then
// `curl -H 'x-user-id: alice' http://127.0.0.1:3000/profile`.
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';
import { createFastifyApp } from './app.js';

const authorizationServer = await AuthorizationServer.start();
const api = await ProtectedApi.start(authorizationServer);
const cache = sandboxCache(authorizationServer, api.origin);
await cache.set('alice', await authorizationServer.login('alice'));
const port = Number(process.env.PORT ?? 3000);
await createFastifyApp({ cache, apiOrigin: api.origin }).listen({ port, host: '127.0.0.1' });
console.log(
  `Fastify example on http://127.0.0.1:${port}; try: curl -H 'x-user-id: alice' http://127.0.0.1:${port}/profile`,
);
