// Fastify-specific behaviour; what every adapter shares is in
// test/adapters.test.ts (the adapter conformance suite, Fastify 4 and 5).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import fastify, { type FastifyInstance } from 'fastify';
import request from 'supertest';
import { TokenCache, TokenEndpointUnavailableError } from '@refreshkit/core';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { freshTokens, PLUGIN_NAME, TokensUnavailableError } from './index.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: { id: string };
  }
}

const api = 'https://api.example.com';

/** Supertest over Fastify's router (light-my-request's inject loads an ESM-only module Jest cannot require). */
async function served(app: FastifyInstance) {
  await app.ready();
  return request((req: IncomingMessage, res: ServerResponse) => app.routing(req, res));
}

async function setup() {
  const endpoint = new ScriptedEndpoint(Date.now);
  const cache = new TokenCache({ endpoint, allowedOrigins: [api] });
  await cache.set('alice', { accessToken: 'secret-access-0', refreshToken: 'secret-refresh-0' });
  return { cache, endpoint };
}

describe('freshTokens on Fastify', () => {
  it('types request.tokens without casts, and lets the resolver read what an authentication hook set', async () => {
    const { cache } = await setup();
    const app = fastify();
    await app.register(freshTokens, { cache, key: (request) => request.user?.id });
    app.addHook('onRequest', async (request) => {
      request.user = { id: String(request.headers['x-user']) };
    });
    app.get('/token', async (request) => ({ token: await request.tokens.getAccessToken() }));
    await (await served(app)).get('/token').set('x-user', 'alice').expect(200, { token: 'secret-access-0' });
    expect(app.hasPlugin(PLUGIN_NAME)).toBe(true);
  });

  it('hands a custom error handler the TokensUnavailableError, and answers 503 from the forward hook', async () => {
    const { cache, endpoint } = await setup();
    endpoint.next = () =>
      Promise.reject(new TokenEndpointUnavailableError('down', { upstreamStatus: 503, retryAfterMs: 2_000 }));
    await cache.invalidate('alice');
    const seen: unknown[] = [];
    const app = fastify();
    app.setErrorHandler((error, _request, reply) => {
      seen.push(error);
      return reply.send(error);
    });
    await app.register(freshTokens, { cache, key: (request) => request.headers['x-user'] as string, forward: api });
    app.get('/proxy/me', async () => 'never reached');
    const response = await (await served(app)).get('/proxy/me').set('x-user', 'alice').expect(503);
    expect(response.headers['retry-after']).toBe('2');
    expect(response.text).not.toContain('secret-');
    expect(seen).toEqual([expect.any(TokensUnavailableError)]);
  });
});
