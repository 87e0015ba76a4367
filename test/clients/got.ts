// got as an outbound client conformance entry: an instance extended with the
// bearer hooks, without got's own retries so each request is counted.
import { Readable } from 'node:stream';
import got from 'got';
import { bearerHooks } from '@refreshkit/got';
import type { ClientUnderTest } from './client-conformance.js';

const gotClient: ClientUnderTest = {
  name: 'got',
  create(options) {
    const instance = got.extend({ throwHttpErrors: false, retry: { limit: 0 } }, bearerHooks(options));
    return {
      async send(call) {
        const response = await instance(call.url, {
          ...(call.base !== undefined && { prefixUrl: call.base }),
          method: call.method ?? 'GET',
          headers: {
            ...(call.key !== undefined && { 'x-refreshkit-key': call.key }),
            ...(call.authorization !== undefined && { authorization: call.authorization }),
          },
          ...(call.body && { body: call.body.stream ? Readable.from([call.body.text]) : call.body.text }),
          ...(call.signal && { signal: call.signal }),
          ...(call.timeoutMs !== undefined && { timeout: { request: call.timeoutMs } }),
        });
        return { status: response.statusCode, body: response.body };
      },
      close: () => Promise.resolve(),
    };
  },
  // got wraps an error thrown by a hook in a `RequestError`, with the error as `cause`.
  sendsStringBodiesAsStrings: true,
  unwrap: (error) => (error instanceof Error && error.name === 'RequestError' && error.cause ? error.cause : error),
};

/** got 14. */
export const GOT_CLIENTS: readonly ClientUnderTest[] = [gotClient];
