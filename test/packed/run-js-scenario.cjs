// The plain-JavaScript scenario, shared by scenario.cjs (require) and
// scenario.mjs (import): each hands in the packages it loaded its own way.
async function runJsScenario({ core, express, koa, fastify, hono, redis, postgres, opentelemetry, clients }) {
  const { OAuth2Endpoint, ReauthenticationRequiredError, TokenCache } = core;
  const endpoint = new OAuth2Endpoint({ tokenUrl: 'http://127.0.0.1:1/token', clientId: 'app', authMethod: 'none' });
  // A custom endpoint: the refresh goes through the cache's p-queue, which is
  // what failed to construct in an unbundled CommonJS build.
  const rotating = {
    refresh: async () => ({ accessToken: 'a1', refreshToken: 'r1' }),
    clientCredentials: async () => ({ accessToken: 'service' }),
  };
  const cache = new TokenCache({ endpoint: rotating, allowedOrigins: ['https://api.example.com'] });
  // With no OpenTelemetry SDK installed, the API's no-op providers.
  const instrumentation = opentelemetry.instrument(cache, { cacheName: 'packed' });
  await cache.set('user-1', { accessToken: 'a0', refreshToken: 'r0', expiresAt: Date.now() + 3_600_000 });
  if ((await cache.getAccessToken('user-1', { forceRefresh: true })) !== 'a1') throw new Error('refresh failed');
  const error = await cache.getAccessToken('nobody').catch((e) => e);
  if (!(error instanceof ReauthenticationRequiredError)) throw new Error('the typed error lost its class');
  instrumentation.remove();
  if (Object.prototype.hasOwnProperty.call(cache, 'fetch')) throw new Error('opentelemetry remove()');
  if (typeof express.freshTokens({ cache, key: () => 'user-1' }) !== 'function') throw new Error('express middleware');
  if (typeof koa.freshTokens({ cache, key: () => 'user-1' }) !== 'function') throw new Error('koa middleware');
  if (typeof hono.freshTokens({ cache, key: () => 'user-1' }) !== 'function') throw new Error('hono middleware');
  // fastify-plugin marks the plugin so Fastify registers it in the parent scope.
  if (fastify.freshTokens[Symbol.for('skip-override')] !== true) throw new Error('fastify plugin');
  if (typeof redis.RedisTokenStore !== 'function' || typeof endpoint.refresh !== 'function') throw new Error('exports');
  const store = new postgres.PostgresTokenStore({ pool: 'postgres://app@127.0.0.1:1/none' });
  await store.close();
  if (!postgres.POSTGRES_SCHEMA_SQL.includes('CREATE TABLE')) throw new Error('postgres exports');
  await runClients(core, clients);
  console.log('packed scenario passed');
}

/**
 * undici, axios and got with the packed client adapters, against an API on
 * 127.0.0.1 that answers with the Authorization header it got. got is ESM
 * only, so both scenarios load it with import().
 */
async function runClients(core, { undici, axios, refreshkitUndici, refreshkitAxios, refreshkitGot }) {
  const http = require('node:http');
  const server = http.createServer((req, res) => res.end(req.headers.authorization ?? 'none'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const cache = new core.TokenCache({
    endpoint: { refresh: async () => ({ accessToken: 'a1' }), clientCredentials: async () => ({ accessToken: 'svc' }) },
    allowedOrigins: [origin],
  });
  await cache.set('user-1', { accessToken: 'a0', refreshToken: 'r0', expiresAt: Date.now() + 3_600_000 });
  const headers = { [refreshkitUndici.KEY_HEADER]: 'user-1' };
  const agent = new undici.Agent();
  const dispatcher = agent.compose(refreshkitUndici.bearerInterceptor({ cache }));
  const viaUndici = await (await undici.request(`${origin}/me`, { dispatcher, headers })).body.text();
  const instance = (axios.default ?? axios).create({ baseURL: origin });
  refreshkitAxios.bearerInterceptors(instance, { cache });
  const viaAxios = (await instance.get('/me', { headers, responseType: 'text' })).data;
  const { default: got } = await import('got');
  const viaGot = await got.extend(refreshkitGot.bearerHooks({ cache })).get(`${origin}/me`, { headers }).text();
  await agent.close();
  server.close();
  for (const [name, sent] of Object.entries({ undici: viaUndici, axios: viaAxios, got: viaGot })) {
    if (sent !== 'Bearer a0') throw new Error(`${name} sent ${sent}, not the bearer`);
  }
}

module.exports = { runJsScenario };
