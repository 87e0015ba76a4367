// Benchmark 3: 10,000 callers in 4 processes sharing RedisTokenStore, all on
// one expired key: token-endpoint calls in total, and the p99 wait of the
// callers in processes that did not win the lock.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TokenCache } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestRedis } from '../test/support/redis-server.js';
import { json, TokenServer } from '../test/support/token-server.js';
import { percentile, unusedEndpoint, type Benchmark } from './harness.js';

const PROCESSES = 4;
const CALLERS = 2_500;
const child = fileURLToPath(new URL('./redis-coalescing-child.ts', import.meta.url));

function runChild(config: object): Promise<{ waits: number[]; refreshes: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', child, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`child exited ${code}`)),
    );
  });
}

export const redisCoalescing: Benchmark = {
  id: 'redis-coalescing',
  async run() {
    const [redis, server] = await Promise.all([TestRedis.start(), TokenServer.start()]);
    server.handler = (_request, res) => {
      setTimeout(() => json(res, 200, { access_token: 'fresh', refresh_token: 'next', expires_in: 3600 }), 50);
    };
    const prefix = `bench-${Date.now()}:`;
    const store = new RedisTokenStore({ redis: redis.url, prefix });
    await new TokenCache({ endpoint: unusedEndpoint, store }).set('shared', {
      accessToken: 'stale',
      refreshToken: 'rt',
      expiresAt: Date.now() - 1,
    });
    await store.close();
    try {
      // Children need a few seconds to start (tsx); all begin at the same instant.
      const startAt = Date.now() + 5_000;
      const reports = await Promise.all(
        Array.from({ length: PROCESSES }, () =>
          runChild({ redisUrl: redis.url, prefix, tokenUrl: server.tokenUrl, startAt, callers: CALLERS }),
        ),
      );
      const calls = server.requests.length;
      const losers = reports.filter((r) => r.refreshes === 0).flatMap((r) => r.waits);
      const winners = reports.filter((r) => r.refreshes > 0).flatMap((r) => r.waits);
      const p99Losers = percentile(losers, 99);
      const p99Winner = percentile(winners, 99);
      return {
        name: '3. 4 processes × 2,500 callers sharing RedisTokenStore, one expired key: endpoint calls; losers p99 wait',
        target: '1',
        figure: `${calls} call(s) in total; losers' p99 wait ${(p99Losers / p99Winner).toFixed(2)}× the winner's`,
        pass: calls === 1,
        notes: `the endpoint answers after 50 ms; processes that lost the lock are woken by pub/sub (polling every 50 ms as a fallback); the wait ratio compares losers with the callers in the winning process`,
      };
    } finally {
      await server.close();
      await redis.stop();
    }
  },
};
