/**
 * The hops of one outbound call through `cache.fetch`: headers per hop and
 * redirects followed by hand, so credentials go only where they may.
 * Shared by the bearer and the DPoP paths.
 */

/** Redirects followed by hand before giving up, as browsers do. */
const MAX_REDIRECTS = 20;

/** What a 301, 302 or 303 redirect makes of a request that was not a GET or HEAD. */
const AS_GET = Object.freeze({ method: 'GET', body: undefined });

/** Header names and values that authorize one hop: `authorization`, and `dpop` for a DPoP proof. */
export type HopCredentials = Readonly<Record<string, string>>;

/** The credentials of a hop to `url` with `method` (a DPoP proof names both, so each hop needs its own). */
export type CredentialsFor = (url: URL, method: string) => HopCredentials | Promise<HopCredentials>;

/**
 * The headers of one hop: the caller's, with the credentials set, or
 * removed when `credentials` is undefined. Without caller headers the
 * credentials object itself is enough, which spares fetch a `Headers` copy
 * on the common path.
 */
export function hopHeaders(
  callerHeaders: HeadersInit | undefined,
  credentials: HopCredentials | undefined,
  hasBody: boolean,
): HeadersInit {
  if (callerHeaders === undefined) return credentials ?? {};
  const headers = new Headers(callerHeaders);
  if (credentials === undefined) {
    headers.delete('authorization');
    headers.delete('dpop');
  } else {
    for (const name in credentials) headers.set(name, credentials[name]!);
  }
  // Without a body (none given, or dropped by a redirect to GET) a content-type would describe nothing.
  if (!hasBody) headers.delete('content-type');
  return headers;
}

/** Whether `status` may be a redirect; only then are a response's headers read for a `Location`. */
export function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/** The first request of a `cache.fetch` call, as a redirect needs it. */
export interface SentRequest {
  readonly target: string | URL;
  /** The origin of `target`: the only one credentials may go to. */
  readonly origin: string;
  readonly options: RequestInit;
  readonly replayable: boolean;
}

/**
 * Follows by hand the redirect `response` that answered `sent` (every hop is
 * sent with `redirect: 'manual'`), so credentials are attached only while
 * the request stays on its origin, made by `credentialsFor` per hop.
 * `observe` sees each hop's answer with its URL (DPoP learns nonces there).
 * `bearerSent` tells whether the final response answered a request that
 * carried credentials (the only case in which a 401 retry makes sense).
 */
export async function followRedirects(
  fetchImpl: typeof globalThis.fetch,
  response: Response,
  { target, origin, options, replayable }: SentRequest,
  credentialsFor: CredentialsFor,
  observe?: (url: URL, response: Response) => void,
): Promise<{ response: Response; bearerSent: boolean; url: string | URL }> {
  let current = target;
  let bearerSent = true;
  // Set once a redirect has turned the request into a GET without a body;
  // until then each hop sends the caller's method and body as they are.
  let asGet: typeof AS_GET | undefined;
  for (let hop = 1; ; hop++) {
    const { status } = response;
    const location = isRedirect(status) ? response.headers.get('location') : null;
    if (location === null) return { response, bearerSent, url: current };
    if (options.redirect === 'error') throw new TypeError(`Redirect to another URL refused (\`redirect: 'error'\`)`);
    if (hop > MAX_REDIRECTS) throw new TypeError(`Too many redirects (more than ${MAX_REDIRECTS})`);
    const keepsMethod = status === 307 || status === 308;
    if (keepsMethod && !replayable) return { response, bearerSent, url: current };
    await response.body?.cancel().catch(() => {});
    const method = (options.method ?? 'GET').toUpperCase();
    if (!keepsMethod && method !== 'GET' && method !== 'HEAD') asGet = AS_GET;
    const next = new URL(location, current);
    current = next;
    bearerSent = next.origin === origin;
    const hasBody = asGet === undefined && options.body !== undefined;
    const credentials = bearerSent ? await credentialsFor(next, asGet === undefined ? method : 'GET') : undefined;
    const headers = hopHeaders(options.headers, credentials, hasBody);
    response = await fetchImpl(next, { ...options, ...asGet, headers, redirect: 'manual' });
    observe?.(next, response);
  }
}
