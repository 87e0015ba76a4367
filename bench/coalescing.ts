// Benchmark 2: 10,000 concurrent callers on one expired key, through a real
// OAuth2Endpoint and a real HTTP token endpoint on loopback.
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { json, TokenServer } from '../test/support/token-server.js';
import type { Benchmark } from './harness.js';

export const coalescing: Benchmark = {
  id: 'coalescing',
  async run() {
    const server = await TokenServer.start();
    server.handler = (_request, res) => {
      setTimeout(() => json(res, 200, { access_token: 'fresh', refresh_token: 'next', expires_in: 3600 }), 20);
    };
    try {
      const cache = new TokenCache({
        endpoint: new OAuth2Endpoint({ tokenUrl: server.tokenUrl, clientId: 'bench', clientSecret: 'bench-secret' }),
      });
      await cache.set('user', { accessToken: 'stale', refreshToken: 'rt', expiresAt: Date.now() - 1 });
      const tokens = await Promise.all(Array.from({ length: 10_000 }, () => cache.getAccessToken('user')));
      const calls = server.requests.length;
      return {
        name: '2. 10,000 concurrent callers on one expired key: token-endpoint calls',
        target: '1',
        figure: `${calls} call(s); ${tokens.filter((t) => t === 'fresh').length.toLocaleString('en')} callers got the new token`,
        pass: calls === 1,
      };
    } finally {
      await server.close();
    }
  },
};
