// One process of benchmark 3: at a shared start time, 2,500 concurrent
// getAccessToken calls on one expired key; prints each caller's wait.
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';

const { redisUrl, prefix, tokenUrl, startAt, callers } = JSON.parse(process.argv[2]!) as {
  redisUrl: string;
  prefix: string;
  tokenUrl: string;
  startAt: number;
  callers: number;
};
const store = new RedisTokenStore({ redis: redisUrl, prefix, lockPollIntervalMs: 50 });
const cache = new TokenCache({
  endpoint: new OAuth2Endpoint({ tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
  store,
});
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
const waits = await Promise.all(
  Array.from({ length: callers }, async () => {
    const sent = performance.now();
    await cache.getAccessToken('shared');
    return performance.now() - sent;
  }),
);
await cache.close();
process.stdout.write(`${JSON.stringify({ waits, refreshes: cache.stats().refreshes })}\n`);
await store.close();
