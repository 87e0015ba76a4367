import type { CallCredentials, RetryBudget } from '@refreshkit/core/adapter';
import type { AxiosRequestConfig, InternalAxiosRequestConfig } from 'axios';

const CALL = Symbol('refreshkit.axiosCall');

/**
 * What one call with a token remembers across its redirects and retries.
 *
 * It rides on the call's configs: hidden (not enumerable) on each config
 * axios sends, so the response interceptor finds it without a lookup table
 * (a `WeakMap` keyed by configs made every call cost the garbage collector
 * more than the rest of the token path), and as `refreshkitCall` on the
 * configs this adapter sends itself, as a class instance, which axios's
 * config merge passes on as it is instead of copying. It holds the token,
 * so `inspect` and `JSON.stringify` show nothing of it.
 */
export class CallState {
  /** Made at the first 401: most calls never need one. */
  retries: RetryBudget | undefined = undefined;
  /** Set after a 401 that invalidated the token: the retry must get a fresh one first. */
  needsToken = false;
  /** Whether the last hop (after redirects) carried the token. */
  bearerSent = true;
  /** Of the redirects this call follows itself, those still allowed. */
  redirectsLeft: number;

  constructor(
    readonly key: string,
    /** The origin the token may go to. */
    readonly origin: string,
    /** The call as the caller made it (after the request interceptor), for a retry. */
    readonly first: InternalAxiosRequestConfig,
    public credentials: CallCredentials,
    /**
     * The redirects allowed when this call follows them itself (a DPoP call:
     * each hop needs a proof, which axios's synchronous `beforeRedirect`
     * cannot sign); undefined when axios follows them.
     */
    readonly redirectLimit: number | undefined,
    /** The caller's own `beforeRedirect`, run before ours on each hop axios follows. */
    readonly callerBeforeRedirect: AxiosRequestConfig['beforeRedirect'],
  ) {
    this.redirectsLeft = redirectLimit ?? 0;
  }

  /** The state of the call `config` belongs to, if it carries one of ours. */
  static of(config: object | undefined): CallState | undefined {
    return config === undefined ? undefined : (config as { [CALL]?: CallState })[CALL];
  }

  /**
   * Puts this state on `config`, hidden from enumeration. Writable and
   * configurable too: axios (1.21+) copies a config with any property that
   * is not, field by field, before sending it.
   */
  attachTo(config: object): void {
    Object.defineProperty(config, CALL, { value: this, configurable: true, writable: true, enumerable: false });
  }

  /** Keeps `util.inspect` free of the token. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'CallState {}';
  }

  /** `JSON.stringify` shows nothing of the token. */
  toJSON(): Record<string, never> {
    return {};
  }
}
