// Benchmark 6: 10,000 keys expiring at once. The most token-endpoint calls
// in flight must stay within endpointConcurrency.
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { json, TokenServer } from '../test/support/token-server.js';
import type { Benchmark } from './harness.js';

const KEYS = 10_000;
const LIMIT = 8;

export const massExpiry: Benchmark = {
  id: 'mass-expiry',
  async run() {
    const server = await TokenServer.start();
    let inFlight = 0;
    let maxInFlight = 0;
    server.handler = (_request, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, { access_token: 'fresh', refresh_token: `rt-${Math.random()}`, expires_in: 3600 });
      }, 2);
    };
    const cache = new TokenCache({
      endpoint: new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
      endpointConcurrency: LIMIT,
    });
    const expired = Date.now() - 1;
    const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    for (const key of keys) await cache.set(key, { accessToken: 'old', refreshToken: `rt-${key}`, expiresAt: expired });
    const started = performance.now();
    await Promise.all(keys.map((key) => cache.getAccessToken(key)));
    const seconds = (performance.now() - started) / 1000;
    await server.close();
    return {
      name: '6. 10,000 keys expiring at once: most endpoint calls in flight (limit 8)',
      target: '≤ the limit',
      figure: `${maxInFlight} in flight at most; all refreshed at ${Math.round(KEYS / seconds).toLocaleString('en')} refreshes/s`,
      pass: maxInFlight <= LIMIT,
      notes: `endpointConcurrency ${LIMIT}; the loopback endpoint answers after 2 ms; refreshes/s is this machine's figure, for scale only`,
    };
  },
};
