// The scenarios every outbound HTTP client adapter must pass, written once.
// A client is one entry of {@link ClientUnderTest}: it builds a client the
// way its users do, with the adapter installed, and the suite drives it
// against real servers on 127.0.0.1. The guarantees are those of
// `cache.fetch` (packages/core/src/bearer-fetch.ts).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  DpopKeyMismatchError,
  OriginNotAllowedError,
  ReauthenticationRequiredError,
  TokenCache,
  TokenEndpointUnavailableError,
} from '@refreshkit/core';
import type { OutboundKey } from '@refreshkit/core/adapter';
import { ApiServer } from '../support/api-server.js';
import { ScriptedEndpoint } from '../support/scripted-endpoint.js';
import { waitFor } from '../support/wait-for.js';

/** One call a test makes through a client. */
export interface ClientCall {
  /** An absolute URL, or a path relative to `base`. */
  readonly url: string;
  /** The client's own base URL option (axios `baseURL`, got `prefixUrl`), if any. */
  readonly base?: string;
  /** Sent as the `x-refreshkit-key` header. */
  readonly key?: string;
  readonly method?: 'GET' | 'POST';
  /** A body: a string, or the same text as a stream that can be read once. */
  readonly body?: { readonly text: string; readonly stream?: boolean };
  /** The caller's own `Authorization` header. */
  readonly authorization?: string;
  readonly signal?: AbortSignal;
  /** The client's own request timeout. */
  readonly timeoutMs?: number;
}

/** The final response of a call, whatever the client's convention for error statuses. */
export interface ClientReply {
  readonly status: number;
  readonly body: string;
}

/** A client with the adapter installed. */
export interface OutboundClient {
  send(call: ClientCall): Promise<ClientReply>;
  close(): Promise<void>;
}

/** One client (and way of calling it) under test. */
export interface ClientUnderTest {
  readonly name: string;
  create(options: { cache: TokenCache; key?: OutboundKey<unknown> }): OutboundClient;
  /**
   * The error a caller inspects for refreshkit's typed error: the client's
   * error itself, or the `cause` it wraps it in (undici's fetch, got).
   */
  unwrap(error: unknown): unknown;
  /**
   * `false` for a client that hands the adapter every body as a stream read
   * once (undici's `fetch` does): a 401 to a call with a body then comes
   * back as it is, as for a stream body with any other client.
   */
  readonly sendsStringBodiesAsStrings: boolean;
}

/** A server that records requests and never answers them: for timeouts and aborts. */
class HangingServer {
  readonly seen: IncomingMessage[] = [];
  readonly #server: Server = createServer((req) => this.seen.push(req));
  origin = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const expiresIn = (ms: number) => Date.now() + ms;

/** Registers the conformance scenarios for `client`. */
export function describeClientConformance(client: ClientUnderTest): void {
  describe(`outbound client conformance: ${client.name}`, () => {
    let api: ApiServer;
    let foreign: ApiServer;
    let hanging: HangingServer;
    const open: OutboundClient[] = [];
    beforeAll(async () => {
      [api, foreign, hanging] = await Promise.all([ApiServer.start(), ApiServer.start(), new HangingServer().start()]);
    });
    afterAll(async () => {
      await Promise.all(open.map((c) => c.close()));
      await Promise.all([api.close(), foreign.close(), hanging.close()]);
    });
    beforeEach(() => {
      api.seen.length = 0;
      foreign.seen.length = 0;
      api.isValid = () => true;
      foreign.isValid = () => true;
    });

    async function setup(key?: OutboundKey<unknown>, expiresAt = expiresIn(3_600_000)) {
      const endpoint = new ScriptedEndpoint(Date.now);
      const cache = new TokenCache({ endpoint, allowedOrigins: [api.origin, hanging.origin] });
      await cache.set('user', { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt });
      const made = client.create({ cache, ...(key !== undefined && { key }) });
      open.push(made);
      return { endpoint, cache, client: made };
    }

    /**
     * Sends a call to the API that has to wait for a refresh, holds the
     * endpoint's answer, aborts the call while it waits, checks that it
     * failed, and lets the refresh finish.
     */
    async function abortDuringRefresh(http: OutboundClient, endpoint: ScriptedEndpoint): Promise<void> {
      endpoint.hold();
      const controller = new AbortController();
      const pending = failureOf(http.send({ url: `${api.origin}/me`, key: 'user', signal: controller.signal }));
      await waitFor(async () => endpoint.calls.length === 1, 'the refresh');
      controller.abort(new Error('caller gave up'));
      expect(await pending).toMatchObject({ name: expect.stringMatching(/Error$/) });
      endpoint.release();
    }

    /** The error a call rejected with, unwrapped to what refreshkit threw. */
    async function failureOf(pending: Promise<unknown>): Promise<unknown> {
      const error = await pending.then(
        () => new Error('expected the call to fail'),
        (caught: unknown) => caught,
      );
      return client.unwrap(error);
    }

    it('sends the bearer of the key the call names to an allowed origin, and never the key header', async () => {
      const { client: http } = await setup();
      const reply = await http.send({ url: `${api.origin}/me`, key: 'user' });
      expect(reply).toEqual({ status: 200, body: JSON.stringify({ token: 'access-0' }) });
      expect(api.seen[0]!.authorization).toBe('Bearer access-0');
      expect(api.seen[0]!.headers['x-refreshkit-key']).toBeUndefined();
    });

    it('takes the key from the installed option when the call names none', async () => {
      const fixed = await setup('user');
      expect((await fixed.client.send({ url: `${api.origin}/me` })).status).toBe(200);
      const resolved = await setup(() => Promise.resolve('user'));
      expect((await resolved.client.send({ url: `${api.origin}/me` })).status).toBe(200);
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0', 'Bearer access-0']);
    });

    it('sends a call without a key untouched, to any origin', async () => {
      const { client: http } = await setup(() => undefined);
      const reply = await http.send({ url: `${foreign.origin}/me`, authorization: 'Basic c2VsZg==' });
      expect(reply.status).toBe(401); // the API server takes only bearers
      expect(foreign.seen[0]!.authorization).toBe('Basic c2VsZg==');
    });

    it('refuses a call with a key to an origin outside allowedOrigins, before sending anything', async () => {
      const { client: http, endpoint } = await setup();
      const error = await failureOf(http.send({ url: `${foreign.origin}/me`, key: 'user' }));
      expect(error).toBeInstanceOf(OriginNotAllowedError);
      expect(error).toMatchObject({ code: 'ERR_ORIGIN_NOT_ALLOWED', origin: foreign.origin });
      expect(foreign.seen).toHaveLength(0);
      expect(endpoint.calls).toHaveLength(0);
    });

    it('checks the origin of the URL the client builds from its base URL option', async () => {
      const { client: http } = await setup('user');
      const refused = await failureOf(http.send({ base: `${foreign.origin}/v1/`, url: 'me' }));
      expect(refused).toBeInstanceOf(OriginNotAllowedError);
      expect(foreign.seen).toHaveLength(0);
      expect((await http.send({ base: `${api.origin}/v1/`, url: 'me' })).status).toBe(200);
      expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([['/v1/me', 'Bearer access-0']]);
    });

    it('drops the bearer on a redirect to another origin, and does not retry the 401 that origin answers', async () => {
      const { client: http, endpoint } = await setup();
      foreign.isValid = () => false;
      const target = encodeURIComponent(`${foreign.origin}/me`);
      const reply = await http.send({ url: `${api.origin}/redirect?to=${target}`, key: 'user' });
      expect(reply.status).toBe(401);
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0']);
      expect(foreign.seen.map((r) => r.authorization)).toEqual([undefined]);
      expect(endpoint.calls).toHaveLength(0);
    });

    it('keeps the bearer on a redirect within the origin', async () => {
      const { client: http } = await setup();
      const target = encodeURIComponent(`${api.origin}/me`);
      const reply = await http.send({ url: `${api.origin}/redirect?to=${target}&status=307`, key: 'user' });
      expect(reply.status).toBe(200);
      expect(api.seen.map((r) => [r.path, r.authorization])).toEqual([
        ['/redirect', 'Bearer access-0'],
        ['/me', 'Bearer access-0'],
      ]);
    });

    it('after a 401, refreshes nothing for a DPoP-bound token another process stored, and says why', async () => {
      const { client: http, cache, endpoint } = await setup();
      const boundJkt = 'A'.repeat(43); // the shape of a key thumbprint
      await cache.set('user', {
        accessToken: 'bound',
        tokenType: 'dpop',
        dpopJkt: boundJkt,
        expiresAt: expiresIn(60_000),
      });
      api.isValid = () => false;
      const error = await failureOf(http.send({ url: `${api.origin}/me`, key: 'user' }));
      expect(error).toBeInstanceOf(DpopKeyMismatchError);
      expect(error).toMatchObject({ code: 'ERR_DPOP_KEY_MISMATCH', boundJkt });
      expect(endpoint.calls).toHaveLength(0);
      expect((await cache.getTokenSet('user')).accessToken).toBe('bound');
    });

    it('turns 10 concurrent 401s for one token into exactly one refresh, each call retried once', async () => {
      const { client: http, endpoint } = await setup();
      api.isValid = (token) => token !== 'access-0';
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => http.send({ url: `${api.origin}/me`, key: 'user' })),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(endpoint.calls).toHaveLength(1);
      const sent = api.seen.map((r) => r.authorization);
      expect(sent.filter((a) => a === 'Bearer access-0')).toHaveLength(10);
      expect(sent.filter((a) => a === 'Bearer access-1')).toHaveLength(10);
    });

    if (client.sendsStringBodiesAsStrings) {
      it('sends a string body again on the retry', async () => {
        const { client: http, endpoint } = await setup();
        api.isValid = (token) => token !== 'access-0';
        const call = { url: `${api.origin}/echo`, key: 'user', method: 'POST', body: { text: 'hello' } } as const;
        const reply = await http.send(call);
        expect(reply).toEqual({ status: 200, body: JSON.stringify({ body: 'hello' }) });
        expect(api.seen.map((r) => r.body)).toEqual(['hello', 'hello']);
        expect(endpoint.calls).toHaveLength(1);
      });
    } else {
      it('returns the 401 to a call with a body as it is, since the client streams every body', async () => {
        const { client: http, endpoint } = await setup();
        api.isValid = (token) => token !== 'access-0';
        const call = { url: `${api.origin}/echo`, key: 'user', method: 'POST', body: { text: 'hello' } } as const;
        expect((await http.send(call)).status).toBe(401);
        expect(api.seen.map((r) => r.body)).toEqual(['hello']);
        expect(endpoint.calls).toHaveLength(0);
      });
    }

    it('does not replay a stream body: the 401 comes back as it is, and the token stays', async () => {
      const { client: http, endpoint, cache } = await setup();
      api.isValid = (token) => token !== 'access-0';
      const reply = await http.send({
        url: `${api.origin}/echo`,
        key: 'user',
        method: 'POST',
        body: { text: 'streamed', stream: true },
      });
      expect(reply.status).toBe(401);
      expect(api.seen.map((r) => r.body)).toEqual(['streamed']);
      expect(endpoint.calls).toHaveLength(0);
      expect(await cache.getAccessToken('user')).toBe('access-0');
    });

    it("replaces the caller's own Authorization header with the bearer, and sends none across origins", async () => {
      const { client: http } = await setup();
      await http.send({ url: `${api.origin}/me`, key: 'user', authorization: 'Basic c3RhbGU=' });
      expect(api.seen[0]!.authorization).toBe('Bearer access-0');
      const target = encodeURIComponent(`${foreign.origin}/me`);
      await http.send({ url: `${api.origin}/redirect?to=${target}`, key: 'user', authorization: 'Basic c3RhbGU=' });
      expect(foreign.seen.map((r) => r.authorization)).toEqual([undefined]);
    });

    it('passes an abort through and leaves the cache as it was', async () => {
      const { client: http, endpoint } = await setup();
      const controller = new AbortController();
      const before = hanging.seen.length;
      const pending = failureOf(http.send({ url: `${hanging.origin}/slow`, key: 'user', signal: controller.signal }));
      await waitFor(async () => hanging.seen.length > before, 'the hanging request');
      controller.abort(new Error('caller gave up'));
      expect(await pending).toMatchObject({ name: expect.stringMatching(/Error$/) });
      expect(hanging.seen.at(-1)!.headers.authorization).toBe('Bearer access-0');
      await http.send({ url: `${api.origin}/me`, key: 'user' });
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0']);
      expect(endpoint.calls).toHaveLength(0);
    });

    it('ends a call aborted while it waits for its token, sending nothing; the refresh still lands', async () => {
      const { client: http, endpoint, cache } = await setup(undefined, Date.now() - 1);
      await abortDuringRefresh(http, endpoint);
      expect(await cache.getAccessToken('user')).toBe('access-1');
      expect(api.seen).toHaveLength(0);
    });

    it('ends a call aborted while it waits for the token that replaces one a 401 refused, sending no retry', async () => {
      const { client: http, endpoint } = await setup();
      api.isValid = (token) => token !== 'access-0';
      await abortDuringRefresh(http, endpoint);
      // A call made after the refresh lands comes back only once the aborted call would have retried.
      expect((await http.send({ url: `${api.origin}/me`, key: 'user' })).status).toBe(200);
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0', 'Bearer access-1']);
    });

    it('passes a timeout through and leaves the cache as it was', async () => {
      const { client: http, endpoint } = await setup();
      const error = await failureOf(http.send({ url: `${hanging.origin}/slow`, key: 'user', timeoutMs: 100 }));
      // A DOMException (`TimeoutError`) for fetch, an Error elsewhere: either way a named failure.
      expect(error).toMatchObject({ name: expect.stringMatching(/Error$/) });
      expect(error).not.toBeInstanceOf(OriginNotAllowedError);
      await http.send({ url: `${api.origin}/me`, key: 'user' });
      expect(api.seen.map((r) => r.authorization)).toEqual(['Bearer access-0']);
      expect(endpoint.calls).toHaveLength(0);
    });

    it.each([
      [
        'a grant that needs a new sign-in',
        ReauthenticationRequiredError,
        () => new ReauthenticationRequiredError('invalid_grant', { upstreamStatus: 400 }),
      ],
      [
        'a token service that is down',
        TokenEndpointUnavailableError,
        () => new TokenEndpointUnavailableError('token endpoint answered 503', { upstreamStatus: 503 }),
      ],
    ] as const)('fails the call with the typed error for %s, sending nothing', async (_what, type, failure) => {
      const { client: http, endpoint } = await setup(undefined, Date.now() - 1);
      endpoint.next = () => Promise.reject(failure());
      const error = await failureOf(http.send({ url: `${api.origin}/me`, key: 'user' }));
      expect(error).toBeInstanceOf(type);
      expect(String((error as Error).message)).not.toMatch(/access-0|refresh-0/);
      expect(api.seen).toHaveLength(0);
    });

    it('validates its options when it is installed', () => {
      expect(() => client.create({ cache: {} as TokenCache })).toThrow('Expected `cache` to be a TokenCache');
      expect(() =>
        client.create({ cache: new TokenCache({ endpoint: new ScriptedEndpoint(Date.now) }), key: '' }),
      ).toThrow('Expected `key` to be a non-empty string or a function of the call');
    });
  });
}
