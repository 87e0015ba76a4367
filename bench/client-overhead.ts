// Part of benchmark 9: what the token path costs each call by itself, with
// the network taken out. Each client sends to an in-process stand-in for the
// server (an undici dispatch, an axios adapter) that answers on the next
// microtask, so the time per call is the client's and the interceptors'
// alone; the token path is set beside an interceptor that only sets a static
// header. Loopback throughput on this machine drifts by tens of percent from
// one second to the next; these per-call costs do not.
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios';
import type { Dispatcher } from 'undici';
import type { TokenCache } from '@refreshkit/core';
import { bearerInterceptors } from '@refreshkit/axios';
import { bearerInterceptor } from '@refreshkit/undici';
import { median } from './harness.js';

const CALLS = 100_000;
const ROUNDS = 7;
const BODY = Buffer.from('{"ok":true}');

/** Nanoseconds per call of the token path and of the do-nothing interceptor, each the median of its rounds. */
export interface Overhead {
  readonly tokensNs: number;
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
  for (let i = 0; i < CALLS; i++) await call();
  return ((performance.now() - started) * 1e6) / CALLS;
}

async function sideBySide(tokens: Call, floor: Call): Promise<Overhead> {
  await nsPerCall(tokens);
  await nsPerCall(floor);
  const tokenTimes: number[] = [];
  const floorTimes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) tokenTimes.push(await nsPerCall(tokens));
    floorTimes.push(await nsPerCall(floor));
    if (round % 2 === 1) tokenTimes.push(await nsPerCall(tokens));
  }
  return { tokensNs: median(tokenTimes), floorNs: median(floorTimes) };
}

/** undici's interceptor over a dispatch that answers 200 on the next microtask. */
export function undiciOverhead(cache: TokenCache, key: string, origin: string): Promise<Overhead> {
  const controller = { abort() {}, pause() {}, resume() {}, aborted: false, paused: false, reason: null };
  const answer: Dispatcher.Dispatch = (_opts, handler) => {
    handler.onRequestStart?.(controller, {});
    queueMicrotask(() => {
      handler.onResponseStart?.(controller, 200, { 'content-type': 'application/json' }, 'OK');
      handler.onResponseData?.(controller, BODY);
      handler.onResponseEnd?.(controller, {});
    });
    return true;
  };
  const authorization = 'Bearer static';
  const withTokens = bearerInterceptor({ cache, key })(answer);
  const withFloor = staticHeaderInterceptor(authorization)(answer);
  const send = (dispatch: Dispatcher.Dispatch) => () =>
    new Promise<void>((resolve, reject) => {
      dispatch(
        { origin, path: '/resource', method: 'GET', headers: {} },
        {
          onResponseEnd: () => resolve(),
          onResponseError: (_controller, error) => reject(error),
        },
      );
    });
  return sideBySide(send(withTokens), send(withFloor));
}

/** axios with the bearer interceptors over an adapter that answers 200 on the next microtask. */
export function axiosOverhead(cache: TokenCache, key: string, origin: string): Promise<Overhead> {
  const adapter: AxiosAdapter = async (config) => ({
    data: '{"ok":true}',
    status: 200,
    statusText: 'OK',
    headers: {},
    config,
  });
  const withTokens = axios.create({ adapter });
  bearerInterceptors(withTokens, { cache, key });
  const withFloor = useStaticHeaderInterceptors(axios.create({ adapter }), 'Bearer static');
  const url = `${origin}/resource`;
  return sideBySide(
    () => withTokens.get(url),
    () => withFloor.get(url),
  );
}
