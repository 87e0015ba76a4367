// Part of benchmark 9: what the token path costs each call by itself, with
// the network taken out. Each client sends through its public entry point
// (undici `request`, axios `get`) to an in-process stand-in for the network
// that answers on the next microtask, so the time per call is the client's
// and the interceptors' alone. Three sides, as over the network: the token
// path, a static header, and an interceptor that only sets that header.
// Loopback throughput on this machine drifts by tens of percent from one
// second to the next; these per-call costs drift by a few.
import { createRequire } from 'node:module';
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios';
import { Dispatcher, request } from 'undici';
import type { TokenCache } from '@refreshkit/core';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerInterceptor } from '@refreshkit/undici';
import { median } from './harness.js';

/** Calls per side and round. */
export const OVERHEAD_CALLS = 20_000;
/** Rounds of the three sides. */
export const OVERHEAD_ROUNDS = 9;
/** Calls between two turns of the event loop: undici's response bodies finish closing on a later turn. */
const CALLS_PER_TURN = 500;
const BODY = Buffer.from('{"ok":true}');

/** Nanoseconds per call of each side, each the median of its rounds. */
export interface Overhead {
  readonly tokensNs: number;
  readonly staticNs: number;
  readonly floorNs: number;
}

type Call = () => Promise<unknown>;

/**
 * The floor bench 9 sets the token path beside: an undici interceptor that
 * sets a static `Authorization` and does nothing else.
 */
export function staticHeaderInterceptor(authorization: string): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function setHeader(opts, handler) {
      return dispatch({ ...opts, headers: { ...(opts.headers as object), authorization } }, handler);
    };
}

/** The same floor for axios: request and response interceptors that set a static `Authorization`, and nothing else. */
export function useStaticHeaderInterceptors(instance: AxiosInstance, authorization: string): AxiosInstance {
  instance.interceptors.request.use(async (config) => {
    config.headers.set('Authorization', authorization);
    return config;
  });
  instance.interceptors.response.use((response) => response);
  return instance;
}

async function nsPerCall(call: Call): Promise<number> {
  const started = performance.now();
  for (let i = 1; i <= OVERHEAD_CALLS; i++) {
    await call();
    if (i % CALLS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return ((performance.now() - started) * 1e6) / OVERHEAD_CALLS;
}

/** The three sides in rounds, the order rotating so no side always runs first. */
async function sideBySide(tokens: Call, fixed: Call, floor: Call): Promise<Overhead> {
  const sides = [tokens, fixed, floor];
  for (const side of sides) await nsPerCall(side);
  const times = new Map<Call, number[]>(sides.map((side) => [side, []]));
  for (let round = 0; round < OVERHEAD_ROUNDS; round++) {
    for (let i = 0; i < sides.length; i++) {
      const side = sides[(round + i) % sides.length]!;
      times.get(side)!.push(await nsPerCall(side));
    }
  }
  return {
    tokensNs: median(times.get(tokens)!),
    staticNs: median(times.get(fixed)!),
    floorNs: median(times.get(floor)!),
  };
}

/**
 * undici 7's dispatchers take a handler of the controller API through this
 * (`DispatcherBase.dispatch`), so the stand-in does too: it is part of what
 * an interceptor costs. undici has no export map; the path is its own.
 */
const { unwrap } = createRequire(import.meta.url)('undici/lib/handler/unwrap-handler.js') as {
  unwrap(
    handler: Dispatcher.DispatchHandler,
  ): Required<Pick<Dispatcher.DispatchHandler, 'onConnect' | 'onHeaders' | 'onData' | 'onComplete'>>;
};

/** The response headers of the stand-in, as raw as a socket's parser gives them. */
const RAW_HEADERS = [
  'content-type',
  'application/json',
  'content-length',
  '11',
  'date',
  new Date().toUTCString(),
  'connection',
  'keep-alive',
  'keep-alive',
  'timeout=5',
].map((text) => Buffer.from(text));

/** A dispatcher that answers every request with 200 and a small JSON body on the next microtask, as a socket would. */
class AnsweringDispatcher extends Dispatcher {
  override dispatch(_opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const callbacks = unwrap(handler);
    callbacks.onConnect(() => {});
    queueMicrotask(() => {
      callbacks.onHeaders(200, RAW_HEADERS, () => {}, 'OK');
      callbacks.onData(BODY);
      callbacks.onComplete([]);
    });
    return true;
  }
}

/** undici `request` through the bearer interceptor, with a static header, and through the do-nothing interceptor. */
export function undiciOverhead(cache: TokenCache, key: string, origin: string): Promise<Overhead> {
  const authorization = 'Bearer static';
  const url = `${origin}/resource`;
  const withTokens = new AnsweringDispatcher().compose(bearerInterceptor({ cache, key }));
  const plain = new AnsweringDispatcher();
  const withFloor = new AnsweringDispatcher().compose(staticHeaderInterceptor(authorization));
  const staticHeader = { authorization };
  return sideBySide(
    async () => (await request(url, { dispatcher: withTokens })).body.text(),
    async () => (await request(url, { dispatcher: plain, headers: staticHeader })).body.text(),
    async () => (await request(url, { dispatcher: withFloor })).body.text(),
  );
}

/** axios with the bearer interceptors, with a static header, and with do-nothing interceptors, over an adapter that answers 200 on the next microtask. */
export function axiosOverhead(cache: TokenCache, key: string, origin: string): Promise<Overhead> {
  const adapter: AxiosAdapter = async (config) => ({
    data: '{"ok":true}',
    status: 200,
    statusText: 'OK',
    headers: {},
    config,
  });
  const authorization = 'Bearer static';
  const withTokens = axios.create({ adapter });
  bearerInterceptors(withTokens, { cache, key });
  const plain = axios.create({ adapter, headers: { authorization } });
  const withFloor = useStaticHeaderInterceptors(axios.create({ adapter }), authorization);
  const url = `${origin}/resource`;
  return sideBySide(
    () => withTokens.get(url),
    () => plain.get(url),
    () => withFloor.get(url),
  );
}
