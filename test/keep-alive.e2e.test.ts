import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TokenCache } from '@refreshkit/core';
import { AuthorizationServer } from '@refreshkit/example-sandbox';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Refresh tokens here die after 3 s without use; the idle period below is more than twice that. */
let server: AuthorizationServer;
beforeAll(async () => {
  server = await AuthorizationServer.start({ accessTokenTtlSeconds: 2, refreshTokenIdleSeconds: 3 });
});
afterAll(() => server?.close());

describe('keep-alive sweeps against oidc-provider with idle-expiring refresh tokens', () => {
  it('keeps a grant alive across an idle period longer than its refresh token’s idle lifetime; without sweeps it dies', async () => {
    const swept = new TokenCache({ endpoint: server.endpointFor(), keepAlive: { intervalMs: 60_000, leadMs: 2_000 } });
    const unswept = new TokenCache({ endpoint: server.endpointFor() });
    await swept.set('user', await server.login('kept-alive'));
    await unswept.set('user', await server.login('left-idle'));
    const startedAt = Date.now();
    let refreshed = 0;
    // Nobody asks for either token for 7 s; only the swept cache runs its sweep.
    while (Date.now() - startedAt < 7_000) {
      await sleep(500);
      refreshed += (await swept.sweep()).refreshed;
    }
    expect(refreshed).toBeGreaterThanOrEqual(2);
    const token = await swept.getAccessToken('user', { forceRefresh: true });
    expect((await server.introspect(token)).active).toBe(true);
    expect(await swept.health('user')).toMatchObject({ state: 'healthy' });

    await expect(unswept.getAccessToken('user')).rejects.toMatchObject({ code: 'ERR_REAUTHENTICATION_REQUIRED' });
    expect(await unswept.health('user')).toMatchObject({ state: 'dead' });
    await Promise.all([swept.close(), unswept.close()]);
  }, 20_000);
});
