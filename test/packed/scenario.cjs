// The packed packages from plain CommonJS.
const { runJsScenario } = require('./run-js-scenario.cjs');

runJsScenario({
  core: require('@refreshkit/core'),
  express: require('@refreshkit/express'),
  koa: require('@refreshkit/koa'),
  fastify: require('@refreshkit/fastify'),
  hono: require('@refreshkit/hono'),
  redis: require('@refreshkit/redis'),
  postgres: require('@refreshkit/postgres'),
  opentelemetry: require('@refreshkit/opentelemetry'),
  clients: {
    undici: require('undici'),
    axios: require('axios'),
    refreshkitUndici: require('@refreshkit/undici'),
    refreshkitAxios: require('@refreshkit/axios'),
    refreshkitGot: require('@refreshkit/got'),
  },
}).catch((error) => {
  console.error(error);
  process.exit(1);
});
