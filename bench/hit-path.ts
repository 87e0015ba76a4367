// Benchmark 1: a cache hit with 10,000 resident keys, against the floor for
// a promise-returning API: an awaited lru-cache lookup in an async function.
import { OAuth2Client as BadgatewayClient, OAuth2Fetch } from '@badgateway/oauth2-client';
import { OAuth2Client as GoogleClient } from 'google-auth-library';
import { LRUCache } from 'lru-cache';
import { TokenCache } from '@refreshkit/core';
import { nsPerCall, unusedEndpoint, type Benchmark } from './harness.js';

const KEYS = 10_000;
const ITERATIONS = 1_000_000;
const ROUNDS = 7;
const PEER_ITERATIONS = 200_000;

export const hitPath: Benchmark = {
  id: 'hit-path',
  async run() {
    const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    const cache = new TokenCache({ endpoint: unusedEndpoint });
    const floorStore = new LRUCache<string, { accessToken: string }>({ max: KEYS });
    const expiresAt = Date.now() + 3_600_000;
    for (const key of keys) {
      await cache.set(key, { accessToken: `token-${key}`, refreshToken: 'r', expiresAt });
      floorStore.set(key, { accessToken: `token-${key}` });
    }
    const floor = async (key: string) => floorStore.get(key)?.accessToken;
    const floorLoop = async (iterations: number) => {
      for (let i = 0; i < iterations; i++) await floor(keys[i % KEYS]!);
    };
    const oursLoop = async (iterations: number) => {
      for (let i = 0; i < iterations; i++) await cache.getAccessToken(keys[i % KEYS]!);
    };

    // Alternate the two in rounds so both see the same machine state; keep the best round of each.
    let ours = Infinity;
    let base = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      base = Math.min(base, await nsPerCall(ITERATIONS, floorLoop));
      ours = Math.min(ours, await nsPerCall(ITERATIONS, oursLoop));
    }
    const ratio = ours / base;

    // Peers hold one identity per client, so 10,000 keys are 10,000 clients in a Map.
    const google = new Map<string, GoogleClient>();
    const badgateway = new Map<string, OAuth2Fetch>();
    for (const key of keys) {
      const client = new GoogleClient();
      client.setCredentials({ access_token: `token-${key}`, expiry_date: expiresAt });
      google.set(key, client);
      const token = { accessToken: `token-${key}`, refreshToken: null, expiresAt };
      badgateway.set(
        key,
        new OAuth2Fetch({
          client: new BadgatewayClient({ clientId: 'bench', tokenEndpoint: 'http://127.0.0.1:1/token' }),
          getNewToken: async () => token,
          getStoredToken: () => token,
          storeToken: () => {},
        }),
      );
    }
    const googleLoop = async (iterations: number) => {
      for (let i = 0; i < iterations; i++) await google.get(keys[i % KEYS]!)!.getAccessToken();
    };
    const badgatewayLoop = async (iterations: number) => {
      for (let i = 0; i < iterations; i++) await badgateway.get(keys[i % KEYS]!)!.getAccessToken();
    };
    let googleNs = Infinity;
    let badgatewayNs = Infinity;
    let baseAgain = Infinity;
    for (let round = 0; round < 3; round++) {
      baseAgain = Math.min(baseAgain, await nsPerCall(PEER_ITERATIONS, floorLoop));
      googleNs = Math.min(googleNs, await nsPerCall(PEER_ITERATIONS, googleLoop));
      badgatewayNs = Math.min(badgatewayNs, await nsPerCall(PEER_ITERATIONS, badgatewayLoop));
    }
    return {
      name: '1. cache-hit getAccessToken, 10,000 resident keys ÷ awaited lru-cache lookup',
      target: '≤ 1.10×',
      figure:
        `refreshkit ${ratio.toFixed(2)}× the floor; google-auth-library ${(googleNs / baseAgain).toFixed(2)}×; ` +
        `@badgateway/oauth2-client ${(badgatewayNs / baseAgain).toFixed(2)}×`,
      ratio,
      pass: ratio <= 1.1,
      notes: [
        `Best of ${ROUNDS} alternating rounds of ${ITERATIONS.toLocaleString('en')} sequential awaited calls each; each`,
        'function is called from a loop of its own, as a real call site would be (a shared loop favoured whichever ran first).',
        'Profiled: the floor is about 70 ns a call. `Date.now()` cost about 35 ns more, so the default clock reads it at',
        "most once per 10 ms, as lru-cache's `ttlResolution` does (1.66× → about 1.15×). The hit then allocated one",
        'promise a call; a record now carries its token as a settled promise, made once, so a hit allocates nothing',
        '(about 1.15× → 1.00–1.10× by process). What remains is the clock read, the store call and the freshness check.',
        `Peers: one client per key in a Map (each holds one identity), best of 3 rounds of ${PEER_ITERATIONS.toLocaleString('en')} calls,`,
        'each set beside its own floor round.',
      ].join(' '),
    };
  },
};
