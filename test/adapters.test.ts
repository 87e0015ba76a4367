// Every framework adapter against the one conformance suite: the next
// adapter is one more entry in this list.
import { describeAdapterConformance } from './adapters/adapter-conformance.js';
import { EXPRESS_ADAPTERS } from './adapters/express.js';
import { FASTIFY_ADAPTERS } from './adapters/fastify.js';
import { HONO_ADAPTERS } from './adapters/hono.js';
import { KOA_ADAPTERS } from './adapters/koa.js';

for (const adapter of [...EXPRESS_ADAPTERS, ...KOA_ADAPTERS, ...FASTIFY_ADAPTERS, ...HONO_ADAPTERS]) {
  describeAdapterConformance(adapter);
}
