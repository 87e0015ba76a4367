// axios as an outbound client conformance entry: an instance with the bearer
// interceptors installed, called with axios's default status handling.
import { Readable } from 'node:stream';
import axios, { isAxiosError } from 'axios';
import { bearerInterceptors } from '@refreshkit/axios';
import type { ClientUnderTest } from './client-conformance.js';

const axiosClient: ClientUnderTest = {
  name: 'axios',
  create(options) {
    const instance = axios.create({ responseType: 'text', transformResponse: (data: unknown) => data });
    bearerInterceptors(instance, options);
    return {
      async send(call) {
        try {
          const response = await instance.request<string>({
            url: call.url,
            ...(call.base !== undefined && { baseURL: call.base }),
            method: call.method ?? 'GET',
            headers: {
              ...(call.key !== undefined && { 'x-refreshkit-key': call.key }),
              ...(call.authorization !== undefined && { authorization: call.authorization }),
            },
            ...(call.body && { data: call.body.stream ? Readable.from([call.body.text]) : call.body.text }),
            ...(call.signal && { signal: call.signal }),
            ...(call.timeoutMs !== undefined && { timeout: call.timeoutMs }),
          });
          return { status: response.status, body: response.data };
        } catch (error) {
          // axios rejects on 4xx by default; the status is what the call got.
          if (isAxiosError(error) && error.response) {
            return { status: error.response.status, body: String(error.response.data ?? '') };
          }
          throw error;
        }
      },
      close: () => Promise.resolve(),
    };
  },
  sendsStringBodiesAsStrings: true,
  unwrap: (error) => error,
};

/** axios 1. */
export const AXIOS_CLIENTS: readonly ClientUnderTest[] = [axiosClient];
