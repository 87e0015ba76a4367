import {
  isFollowedRedirect,
  isPromiseLike,
  isReplayableBody,
  MAX_REDIRECTS,
  methodAfterRedirect,
  RetryBudget,
  type CallCredentials,
  type HopCredentials,
  type OutboundBearer,
  type RetryReason,
} from '@refreshkit/core/adapter';
import type { Dispatcher } from 'undici';
import { withoutHeaders, type HeaderRecord, type SplitHeaders } from './dispatch-headers.js';
import type { HeaderReader } from './response-headers.js';

/** What happens to the response now arriving. */
type Mode = 'forward' | 'redirect' | RetryReason;

/** Headers that must not follow a request to another origin (`dpop`: a proof names its own origin). */
const isCredentialHeader = (name: string): boolean =>
  name === 'authorization' || name === 'cookie' || name === 'proxy-authorization' || name === 'dpop';
/** Headers that describe a body, dropped with it, and `host`, which names the old origin. */
const isBodyOrHostHeader = (name: string): boolean => name.startsWith('content-') || name === 'host';

/**
 * One call through the bearer interceptor: it waits for the key's token,
 * sends the request with it, follows redirects by hand (the token only
 * while on the checked origin), and after a 401 to the token invalidates
 * it and sends the request once more. A DPoP-bound token gets a new proof
 * for every request sent, and a DPoP nonce challenge one more try with the
 * server's nonce. The caller's handler sees one request start and one
 * response: the final one.
 *
 * This class holds what does not depend on undici's handler API; a
 * subclass speaks one API to the caller's `Handler` and to the dispatcher
 * below, and sends each response's events through {@link responseStarts},
 * {@link forwarding} and {@link responseEnds}.
 */
export abstract class BearerCall<Handler> {
  /** The caller's handler, told of the call's start and of its one response. */
  protected readonly handler: Handler;
  readonly #dispatch: Dispatcher.Dispatch;
  readonly #bearer: OutboundBearer<Dispatcher.DispatchOptions>;
  readonly #first: Dispatcher.DispatchOptions;
  /** The caller's headers, split from its own Authorization and the key header. */
  readonly #headers: SplitHeaders;
  readonly #replayable: boolean;
  #key = '';
  #origin = '';
  #credentials: CallCredentials | undefined;
  /** Made at the first 401: most calls never need one. */
  #retries: RetryBudget | undefined;
  #hops = 0;
  /** The options of the request on the wire. */
  #current: Dispatcher.DispatchOptions;
  #bearerSent = true;
  #mode: Mode = 'forward';
  /** The options of the next hop, when the response now arriving is a redirect being followed. */
  #next: Dispatcher.DispatchOptions | undefined;
  #done = false;

  constructor(
    dispatch: Dispatcher.Dispatch,
    opts: Dispatcher.DispatchOptions,
    headers: SplitHeaders,
    handler: Handler,
    bearer: OutboundBearer<Dispatcher.DispatchOptions>,
  ) {
    this.handler = handler;
    this.#dispatch = dispatch;
    this.#bearer = bearer;
    this.#first = opts;
    this.#current = opts;
    this.#headers = headers;
    this.#replayable = isReplayableBody(opts.body);
  }

  /** Tells the caller's handler that its request has started (once, before anything is sent). */
  protected abstract startCaller(): void;

  /** Ends the caller's request with `error`. */
  protected abstract failCaller(error: Error): void;

  /** Starts the call for `key`: checks the origin, then sends with the key's token. */
  start(key: string | Promise<string | undefined> | undefined): void {
    this.startCaller();
    // A key known at once (the header, a fixed key) is used without a promise hop.
    if (typeof key === 'object') key.then((resolved) => this.#begin(resolved), this.#onFailure);
    else this.#begin(key);
  }

  /** Whether the response now arriving goes to the caller (else a redirect is being followed or a 401 retried). */
  protected get forwarding(): boolean {
    return this.#mode === 'forward';
  }

  /**
   * A response has started: decides whether the caller gets it (true) or it
   * is swallowed, to follow its redirect or to retry. `read` takes a header
   * out of `headers`, which are read only for a redirect, a 401 or DPoP.
   */
  protected responseStarts<Headers>(status: number, headers: Headers, read: HeaderReader<Headers>): boolean {
    // A DPoP server may hand out a new nonce with any answer (RFC 9449 §9).
    if (this.#bearerSent && this.#credentials?.dpop)
      this.#credentials.learnNonce(this.#origin, joined(read(headers, 'dpop-nonce')));
    this.#mode = this.#decide(status, headers, read);
    return this.#mode === 'forward';
  }

  /**
   * A response has ended. The caller's own: the call is over, and true is
   * returned for the subclass to pass the end on. A swallowed one: unless
   * the caller aborted meanwhile (`abortedWith`), the redirect is followed
   * or the request sent again.
   */
  protected responseEnds(abortedWith: Error | null | undefined): boolean {
    if (this.#mode === 'forward') {
      this.#done = true;
      return true;
    }
    if (abortedWith) {
      this.fail(abortedWith);
      return false;
    }
    if (this.#mode === 'redirect') {
      const next = this.#next!;
      if (this.#bearerSent) this.#sendAuthorized(next, next.headers as HeaderRecord);
      else this.#send(next);
    } else if (this.#mode === 'nonce') {
      // The token is fine after a nonce challenge: only the proof was stale.
      this.#sendWithCredentials(this.#credentials!);
    } else {
      const { accessToken } = this.#credentials!;
      this.#bearer.invalidate(this.#key, accessToken).then(() => this.#attemptWithToken(), this.#onFailure);
    }
    return false;
  }

  /** Ends the call with `error`, once. */
  protected fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.failCaller(error);
  }

  #begin(key: string | undefined): void {
    if (this.#done) return;
    if (key === undefined || key === '') return this.#sendWithoutBearer();
    try {
      if (this.#first.origin === undefined)
        throw new TypeError('The bearer interceptor needs an `origin` on each request');
      this.#origin = this.#bearer.allowedOriginOf(String(this.#first.origin));
    } catch (error) {
      return this.fail(error as Error);
    }
    this.#key = key;
    this.#attemptWithToken();
  }

  /** Ends the call with a failure of the token path (bound once, passed to promises). */
  readonly #onFailure = (error: unknown): void => this.fail(error as Error);

  #attemptWithToken(): void {
    let credentials: CallCredentials | PromiseLike<CallCredentials>;
    try {
      credentials = this.#bearer.credentialsNow(this.#key);
    } catch (error) {
      return this.fail(error as Error); // a key the cache refuses at once
    }
    // A token at hand is sent in this turn: no promise hop on the hit path.
    if (isPromiseLike(credentials)) credentials.then(this.#sendWithCredentials, this.#onFailure);
    else this.#sendWithCredentials(credentials);
  }

  /** Sends the caller's request from its first hop with `credentials`. */
  readonly #sendWithCredentials = (credentials: CallCredentials): void => {
    if (this.#done) return;
    this.#credentials = credentials;
    this.#hops = 0;
    this.#bearerSent = true;
    this.#sendAuthorized(this.#first, this.#headers.rest);
  };

  /** Sends `opts` (a hop on the checked origin) with `headers` and the call's credentials for the hop. */
  #sendAuthorized(opts: Dispatcher.DispatchOptions, headers: HeaderRecord): void {
    const credentials = this.#credentials!;
    if (credentials.fixedHeaders !== undefined) return this.#sendWith(opts, headers, credentials.fixedHeaders);
    const url = `${String(opts.origin)}${opts.path}`;
    Promise.resolve(credentials.headersFor(url, opts.method)).then(
      (proved) => this.#sendWith(opts, headers, proved),
      this.#onFailure,
    );
  }

  #sendWith(opts: Dispatcher.DispatchOptions, headers: HeaderRecord, authorizing: HopCredentials): void {
    if (!this.#done) this.#send({ ...opts, headers: { ...headers, ...authorizing } });
  }

  #sendWithoutBearer(): void {
    this.#bearerSent = false;
    const { rest, authorization } = this.#headers;
    this.#send({ ...this.#first, headers: authorization === undefined ? rest : { ...rest, authorization } });
  }

  #send(opts: Dispatcher.DispatchOptions): void {
    this.#current = opts;
    this.#mode = 'forward';
    try {
      this.#dispatch(opts, this as Dispatcher.DispatchHandler);
    } catch (error) {
      // Runs inside promise callbacks: a throw here must end the call, not become an unhandled rejection.
      this.fail(error as Error);
    }
  }

  #decide<Headers>(status: number, headers: Headers, read: HeaderReader<Headers>): Mode {
    if (isFollowedRedirect(status)) {
      const location = read(headers, 'location');
      if (typeof location !== 'string') return 'forward'; // none, or several: not followed
      const keepsMethod = status === 307 || status === 308;
      if (this.#hops < MAX_REDIRECTS && (!keepsMethod || this.#replayable)) {
        this.#next = this.#hopTo(status, location);
        return 'redirect';
      }
      return 'forward';
    }
    if (status !== 401 || !this.#bearerSent || !this.#replayable) return 'forward';
    const challenge = joined(read(headers, 'www-authenticate'));
    return (this.#retries ??= new RetryBudget()).take(status, challenge, this.#credentials!.dpop) ?? 'forward';
  }

  /**
   * The request that follows a redirect, without credentials of ours: the
   * sender adds them for a hop on the checked origin, and no credential
   * goes elsewhere.
   */
  #hopTo(status: number, location: string): Dispatcher.DispatchOptions {
    this.#hops++;
    const current = this.#current;
    const url = new URL(location, new URL(current.path, String(current.origin)));
    const { method, dropsBody } = methodAfterRedirect(status, current.method);
    let headers = current.headers as HeaderRecord;
    if (dropsBody) headers = withoutHeaders(headers, isBodyOrHostHeader);
    if (url.origin !== this.#origin) {
      headers = withoutHeaders(headers, (name) => isCredentialHeader(name) || name === 'host');
      this.#bearerSent = false;
    }
    return {
      ...current,
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      query: undefined,
      method: method as Dispatcher.HttpMethod,
      body: dropsBody ? null : current.body,
      headers,
    };
  }
}

/** One value of a response header that may be repeated, as one string. */
function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
