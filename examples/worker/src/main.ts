// Runs the worker against an embedded authorization server and API:
// `pnpm --filter @refreshkit/example-worker start` (through `cache.fetch`),
// or `... start --undici` (through undici `request` and @refreshkit/undici).
import { AuthorizationServer, ProtectedApi, sandboxCache } from '@refreshkit/example-sandbox';
import { runJobs, runUndiciJobs } from './worker.js';

const authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 3 });
const api = await ProtectedApi.start(authorizationServer);
const cache = sandboxCache(authorizationServer, api.origin, { grant: 'client_credentials' });
const results = await (process.argv.includes('--undici') ? runUndiciJobs : runJobs)({
  cache,
  identity: 'nightly-report',
  url: `${api.origin}/me`,
  jobs: 20,
  intervalMs: 400,
  onJob: ({ job, status }) => console.log(`job ${String(job).padStart(2)}: upstream answered ${status}`),
});
const failed = results.filter((r) => r.status !== 200).length;
console.log(
  `${results.length} jobs, ${failed} failed, ${authorizationServer.stats.clientCredentialsGrants} client-credentials grants`,
);
await Promise.all([api.close(), authorizationServer.close()]);
process.exitCode = failed === 0 ? 0 : 1;
