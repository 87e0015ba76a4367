// A rotated set kept through a store outage must not be undone by a lock
// takeover (DESIGN invariant 2), on every shared store. Process A holds the
// refresh lock when the endpoint answers with a rotated set and the store is
// out of A's reach, so A keeps the set and its lease runs out unreleased.
// Process B then takes the lock over; the store still holds the refresh
// token A consumed, and presenting it again is reuse (the grant is revoked).
// A and B are two caches on two store instances with their own connections,
// as two processes are; A reaches the store through a proxy that can cut it off.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OAuth2Endpoint, StoreUnavailableError, TokenCache, type StoreLock, type TokenStore } from '@refreshkit/core';
import { PostgresTokenStore } from '@refreshkit/postgres';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestPostgres } from './support/postgres-server.js';
import { TestRedis } from './support/redis-server.js';
import { RotatingTokenServer } from './support/rotating-token-server.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { waitFor } from './support/wait-for.js';

/** A short lease, so that it runs out during the test; operations give up fast on a cut connection. */
const LOCK_TTL_MS = 1_000;
const TUNING = { lockTtlMs: LOCK_TTL_MS, lockPollIntervalMs: 20, operationTimeoutMs: 500 };

/** One shared store under test: a server that can go down, and store instances on it (or through a proxy). */
interface SharedStoreServer {
  readonly port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
  /** A store instance (one process's) on the server, or on `port` (a proxy) instead. */
  open(name: string, port?: number): Promise<TokenStore & { close(): Promise<void> }>;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

const servers: Record<string, () => Promise<SharedStoreServer>> = {
  Redis: async () => {
    const redis = await TestRedis.start();
    return {
      port: portOf(redis.url),
      stop: () => redis.stop(),
      restart: () => redis.restart(),
      destroy: () => redis.stop(),
      open: async (name, port = portOf(redis.url)) =>
        new RedisTokenStore({ redis: `redis://127.0.0.1:${port}`, prefix: `${name}:`, ...TUNING }),
    };
  },
  PostgreSQL: async () => {
    const postgres = await TestPostgres.start();
    return {
      port: portOf(postgres.url),
      stop: () => postgres.stop(),
      restart: () => postgres.restart(),
      destroy: () => postgres.destroy(),
      open: async (name, port = portOf(postgres.url)) => {
        const url = new URL(postgres.url);
        url.port = String(port);
        const store = new PostgresTokenStore({ pool: url.toString(), table: name, ...TUNING });
        if (port === portOf(postgres.url)) await store.migrate();
        return store;
      },
    };
  },
};

/** `store`, telling `onLock` whether each lock it hands out was taken over. */
function reportingTakeovers(store: TokenStore, onLock: (tookOver: boolean) => void): TokenStore {
  return {
    get: (key, options) => store.get(key, options),
    compareAndSet: (key, record, expected) => store.compareAndSet(key, record, expected),
    delete: (key) => store.delete(key),
    lock: async (key, signal): Promise<StoreLock> => {
      const lock = await store.lock!(key, signal);
      onLock(lock.tookOver === true);
      return lock;
    },
  };
}

/** `call` until it stops failing with StoreUnavailableError (the store coming back, a lock still held). */
async function onceTheStoreAnswers<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

let tableSerial = 0;

describe.each(Object.keys(servers))('a rotated set kept by one process, on %s', (kind) => {
  let server: SharedStoreServer;
  let tokens: RotatingTokenServer;
  beforeAll(async () => {
    server = await servers[kind]!();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  /** Process A (through a proxy when given its port), process B, and the grant's first set, stored as expired. */
  async function twoProcesses(proxyPort?: number) {
    tokens = await RotatingTokenServer.start(3_600);
    const name = `kept${process.pid}_${++tableSerial}`;
    const storeOfB = await server.open(name);
    const storeOfA = await server.open(name, proxyPort);
    const endpoint = new OAuth2Endpoint({ tokenUrl: tokens.tokenUrl, clientId: 'c', clientSecret: 's' });
    const takeovers: boolean[] = [];
    let onTakeover: () => void = () => {};
    const a = new TokenCache({ endpoint, store: storeOfA });
    const b = new TokenCache({
      endpoint,
      store: reportingTakeovers(storeOfB, (tookOver) => {
        takeovers.push(tookOver);
        if (tookOver) onTakeover();
      }),
    });
    const issued = tokens.issue('grant');
    await b.set('k', {
      accessToken: issued.access_token,
      refreshToken: issued.refresh_token,
      expiresAt: Date.now() - 1,
    });
    // A's refresh is answered only once the test has taken the store away from A.
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const handler = tokens.server.handler;
    tokens.server.handler = async (request, res, index) => {
      if (index === 0) await answered;
      return handler(request, res, index);
    };
    return {
      a,
      b,
      takeovers,
      whenTakenOver: (then: () => void) => (onTakeover = then),
      answer,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await Promise.all([storeOfA.close(), storeOfB.close()]);
        await tokens.close();
      },
    };
  }

  it('A cut off from the store while its refresh is answered: B takes the lapsed lock over, waits for A’s set and adopts it, never presenting the consumed refresh token', async () => {
    const proxy = await TcpProxy.start(server.port);
    const { a, b, takeovers, whenTakenOver, answer, close } = await twoProcesses(proxy.port);
    try {
      const refreshOfA = a.getAccessToken('k');
      await waitFor(async () => tokens.server.requests.length === 1, 'A presenting the refresh token');
      proxy.cut();
      answer();
      const fromA = await refreshOfA; // kept: served to A, not yet stored
      // A is back only once B has taken A's lapsed lease over: B must wait for A's set.
      whenTakenOver(() => proxy.restore());
      const fromB = await onceTheStoreAnswers(() => b.getAccessToken('k'));
      expect(takeovers).toContain(true);
      expect(tokens.reuses).toBe(0);
      expect(tokens.server.requests).toHaveLength(1);
      expect(fromB).toBe(fromA);
      expect(await a.getAccessToken('k')).toBe(fromA);
    } finally {
      await close();
      await proxy.close();
    }
  });

  it('the store down for everyone while A’s refresh is answered: once it is back, A’s set lands and B presents no consumed refresh token', async () => {
    const { a, b, answer, close } = await twoProcesses();
    try {
      const refreshOfA = a.getAccessToken('k');
      await waitFor(async () => tokens.server.requests.length === 1, 'A presenting the refresh token');
      await server.stop();
      answer();
      const fromA = await refreshOfA;
      // Down for longer than A's lease: it runs out unreleased.
      await new Promise((resolve) => setTimeout(resolve, 3 * LOCK_TTL_MS));
      await server.restart();
      const fromB = await onceTheStoreAnswers(() => b.getAccessToken('k'));
      expect(tokens.reuses).toBe(0);
      expect(tokens.server.requests).toHaveLength(1);
      expect(fromB).toBe(fromA);
    } finally {
      await close();
    }
  });
});
