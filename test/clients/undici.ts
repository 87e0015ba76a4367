// undici's `request` and `fetch` as outbound client conformance entries,
// each through an Agent composed with the bearer interceptor.
import { Readable } from 'node:stream';
import { Agent, fetch, request, type Dispatcher } from 'undici';
import { bearerInterceptor } from '@refreshkit/undici';
import type { ClientCall, ClientUnderTest, OutboundClient } from './client-conformance.js';

function headersOf(call: ClientCall): Record<string, string> {
  return {
    ...(call.key !== undefined && { 'x-refreshkit-key': call.key }),
    ...(call.authorization !== undefined && { authorization: call.authorization }),
  };
}

/** undici has no base URL option of its own: the caller resolves the URL. */
function urlOf(call: ClientCall): string {
  return call.base === undefined ? call.url : new URL(call.url, call.base).href;
}

function withAgent(
  options: Parameters<typeof bearerInterceptor>[0],
  send: (dispatcher: Dispatcher, call: ClientCall) => Promise<{ status: number; body: string }>,
): OutboundClient {
  const agent = new Agent();
  const dispatcher = agent.compose(bearerInterceptor(options));
  return { send: (call) => send(dispatcher, call), close: () => agent.close() };
}

const undiciRequest: ClientUnderTest = {
  name: 'undici request',
  create: (options) =>
    withAgent(options, async (dispatcher, call) => {
      const response = await request(urlOf(call), {
        dispatcher,
        method: call.method ?? 'GET',
        headers: headersOf(call),
        ...(call.body && { body: call.body.stream ? Readable.from([call.body.text]) : call.body.text }),
        ...(call.signal && { signal: call.signal }),
        ...(call.timeoutMs !== undefined && { headersTimeout: call.timeoutMs }),
      });
      return { status: response.statusCode, body: await response.body.text() };
    }),
  sendsStringBodiesAsStrings: true,
  unwrap: (error) => error,
};

const undiciFetch: ClientUnderTest = {
  name: 'undici fetch',
  create: (options) =>
    withAgent(options, async (dispatcher, call) => {
      const body = call.body && (call.body.stream ? Readable.toWeb(Readable.from([call.body.text])) : call.body.text);
      const signals = [call.signal, call.timeoutMs === undefined ? undefined : AbortSignal.timeout(call.timeoutMs)];
      const present = signals.filter((signal) => signal !== undefined);
      const response = await fetch(urlOf(call), {
        dispatcher,
        method: call.method ?? 'GET',
        headers: headersOf(call),
        ...(body && { body: body as unknown as string, duplex: 'half' as const }),
        ...(present.length > 0 && { signal: AbortSignal.any(present) }),
      });
      return { status: response.status, body: await response.text() };
    }),
  // fetch hands the dispatcher every body as an async generator, read once.
  sendsStringBodiesAsStrings: false,
  // fetch reports a dispatcher error as `TypeError('fetch failed')` with the error as `cause`.
  unwrap: (error) => (error instanceof TypeError && error.cause !== undefined ? error.cause : error),
};

/** undici `request` and `fetch`. */
export const UNDICI_CLIENTS: readonly ClientUnderTest[] = [undiciRequest, undiciFetch];
