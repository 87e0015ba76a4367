// The cost DPoP adds to an outbound call through `cache.fetch`: one proof
// (an ES256 signature over a new jti) per request, the token's `ath` hashed
// once per token. Run: node --conditions=source --import tsx bench/dpop-proof-cost.ts
// Not part of `pnpm bench`: a figure for the DPoP note, not a target.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { DpopProver } from '../packages/core/src/dpop-prover.js';

const CALLS = 3_000;
const ROUNDS = 5;

const api = createServer((_req, res) => res.end('ok'));
await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

/** A cache holding one token for `svc`, DPoP-bound when `dpop` is set; its endpoint is never called. */
async function cacheWith(dpop: boolean): Promise<TokenCache> {
  const endpoint = new OAuth2Endpoint({
    tokenUrl: 'https://idp.invalid/token',
    clientId: 'bench',
    clientSecret: 'bench-secret',
    ...(dpop && { dpop: {} }),
  });
  const cache = new TokenCache({ endpoint, allowedOrigins: [origin] });
  await cache.set('svc', {
    accessToken: 'bench-access-token',
    refreshToken: 'bench-refresh-token',
    expiresAt: Date.now() + 3_600_000,
    tokenType: dpop ? 'dpop' : 'bearer',
  });
  return cache;
}

async function microsPerCall(cache: TokenCache): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await (await cache.fetch('svc', `${origin}/items?page=${i}`)).text();
  return Number(process.hrtime.bigint() - started) / 1_000 / CALLS;
}

const bearer = await cacheWith(false);
const dpop = await cacheWith(true);
await microsPerCall(bearer);
await microsPerCall(dpop);
const bearerRuns: number[] = [];
const dpopRuns: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  bearerRuns.push(await microsPerCall(bearer));
  dpopRuns.push(await microsPerCall(dpop));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// The proof alone, without HTTP: what each call signs.
const prover = new DpopProver({}, Date.now);
const url = new URL(`${origin}/items`);
const proofRuns: number[] = [];
for (let round = 0; round <= ROUNDS; round++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await prover.proof({ method: 'GET', url, accessToken: 'bench-access-token' });
  // Round 0 warms up (key generation, JIT) and is not counted.
  if (round > 0) proofRuns.push(Number(process.hrtime.bigint() - started) / 1_000 / CALLS);
}
console.log(`DPoP proof alone (ES256, jti, ath cached): ${median(proofRuns).toFixed(1)} µs/proof`);
console.log(`cache.fetch to a loopback API, ${CALLS} calls x ${ROUNDS} rounds (median):`);
console.log(`  bearer:          ${median(bearerRuns).toFixed(1)} µs/call`);
console.log(`  DPoP (ES256):    ${median(dpopRuns).toFixed(1)} µs/call`);
console.log(`  DPoP proof cost: ${(median(dpopRuns) - median(bearerRuns)).toFixed(1)} µs/call`);
await Promise.all([bearer.close(), dpop.close()]);
api.close();
