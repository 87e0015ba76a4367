/**
 * Authorization server metadata discovery: OpenID Connect Discovery 1.0
 * and RFC 8414, for `OAuth2Endpoint.discover`. The metadata is only ever
 * trusted for the issuer asked for (RFC 8414 §3.3, OIDC Discovery §4.3): a
 * document naming another issuer could send client credentials anywhere.
 */
import { describeUrl } from './describe-url.js';
import {
  chooseAuthMethod,
  metadataUrls,
  parseMetadata,
  type AuthorizationServerMetadata,
} from './discovery-metadata.js';
import { checkDpopSupport } from './dpop-discovery.js';
import { DiscoveryError } from './errors.js';
import { isLoopbackHost, validateEndpointOptions, type OAuth2EndpointOptions } from './oauth2-endpoint-options.js';
import { readBoundedText } from './read-body.js';
import { assertIntegerInRange, assertNonEmptyString, assertObject, invalid } from './validate.js';

/** Options of `OAuth2Endpoint.discover`: those of the endpoint, without `tokenUrl`, which the metadata gives. */
export interface DiscoverOptions extends Omit<OAuth2EndpointOptions, 'tokenUrl'> {
  /**
   * How long the endpoint built from the metadata is reused by later
   * `discover` calls with the same issuer and options. A failed discovery
   * is never reused. `0` fetches the metadata on every call.
   * Range: integer from 0 to 86_400_000 (a day).
   * @default 3_600_000 (an hour)
   */
  readonly metadataMaxAgeMs?: number;
}

const MAX_CACHED_ENDPOINTS = 256;

interface CachedEndpoint<E> {
  readonly endpoint: Promise<E>;
  readonly expiresAt: number;
}

/** Endpoints discovered per issuer and options. Module-wide, so separate callers share one endpoint and its hold. */
const discovered = new Map<string, CachedEndpoint<unknown>>();

/** Identity numbers for options compared by identity (functions, keys). */
const identities = new WeakMap<object, number>();
let nextIdentity = 1;

function identityOf(value: object): number {
  let id = identities.get(value);
  if (id === undefined) {
    id = nextIdentity++;
    identities.set(value, id);
  }
  return id;
}

/**
 * A cache key for the options: data options by value, functions and the
 * client key by identity (two equal-looking key objects may be imported
 * differently; a function's source says nothing about what it returns).
 * Kept in memory only, never shown.
 */
function optionsFingerprint(issuer: string, options: DiscoverOptions): string {
  const parts = Object.entries(options)
    .filter(([name, value]) => value !== undefined && name !== 'metadataMaxAgeMs')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => {
      // A DPoP key by identity, like `clientKey`: JSON would make every CryptoKeyPair look alike.
      if (name === 'dpop') {
        const key = (value as { key?: object }).key;
        return `dpop=${key === undefined ? 'generated' : `#${identityOf(key)}`}`;
      }
      const byIdentity = typeof value === 'function' || name === 'clientKey';
      return `${name}=${byIdentity ? `#${identityOf(value as object)}` : JSON.stringify(value)}`;
    });
  return `${issuer}\n${parts.join('\n')}`;
}

/**
 * Checks the issuer identifier as RFC 8414 §2 defines it: an https URL (http
 * only on loopback or with `allowInsecureHttp`) with no query or fragment.
 *
 * @throws TypeError naming what is wrong.
 */
function validateIssuer(issuer: unknown, allowInsecureHttp: boolean | undefined): URL {
  assertNonEmptyString('issuer', issuer);
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw invalid('issuer', 'an absolute URL (the `iss` of the provider)', issuer);
  }
  if (url.username || url.password || url.search || url.hash || issuer.includes('?') || issuer.includes('#')) {
    throw new TypeError(
      `Expected \`issuer\` to be a URL without credentials, query or fragment (RFC 8414 §2), got \`${describeUrl(issuer)}\` with one of them (not shown)`,
    );
  }
  const insecureAllowed = allowInsecureHttp === true || isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && insecureAllowed)) {
    throw invalid('issuer', 'an https URL (http only for loopback hosts or with `allowInsecureHttp`)', issuer);
  }
  return url;
}

/** Fetches and validates the metadata, trying each well-known location in turn. */
async function fetchMetadata(issuer: string, url: URL, options: DiscoverOptions): Promise<AuthorizationServerMetadata> {
  const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxResponseBytes ?? 65_536;
  const refusals: string[] = [];
  let unreachable: { cause: unknown; status: number | undefined } | undefined;
  for (const location of metadataUrls(url)) {
    let response: Response;
    let text: string;
    let truncated: boolean;
    try {
      response = await fetch(location, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      ({ text, truncated } = await readBoundedText(response, maxBytes));
    } catch (cause) {
      unreachable = { cause, status: undefined };
      refusals.push(`${describeUrl(location)}: no answer`);
      continue;
    }
    if (response.ok) {
      if (truncated) {
        throw new DiscoveryError('invalid_metadata', issuer, `the metadata is larger than ${maxBytes} bytes`, {
          upstreamStatus: response.status,
        });
      }
      return parseMetadata(issuer, text, response.status);
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      unreachable = { cause: undefined, status: response.status };
    }
    refusals.push(`${describeUrl(location)} answered ${response.status}`);
  }
  if (unreachable !== undefined) {
    throw new DiscoveryError('unreachable', issuer, `no metadata could be fetched (${refusals.join('; ')})`, {
      cause: unreachable.cause,
      ...(unreachable.status !== undefined && { upstreamStatus: unreachable.status }),
    });
  }
  throw new DiscoveryError(
    'not_found',
    issuer,
    `no metadata at either well-known location (${refusals.join('; ')}): is the issuer right?`,
  );
}

/** Discovers the metadata and builds the endpoint with `create`. */
async function build<E>(
  issuer: string,
  url: URL,
  options: DiscoverOptions,
  create: (options: OAuth2EndpointOptions) => E,
): Promise<E> {
  const metadata = await fetchMetadata(issuer, url, options);
  const authMethod = chooseAuthMethod(metadata, options);
  if (options.dpop !== undefined) checkDpopSupport(issuer, metadata.dpopAlgorithmsSupported, options.dpop);
  const { metadataMaxAgeMs: _maxAge, ...endpointOptions } = options;
  try {
    return create({ ...endpointOptions, tokenUrl: metadata.tokenEndpoint, authMethod });
  } catch (error) {
    // The options were checked before the fetch, so what fails now is the token endpoint the metadata named.
    throw new DiscoveryError(
      'invalid_metadata',
      issuer,
      `its \`token_endpoint\` is not usable: ${(error as Error).message}`,
    );
  }
}

/**
 * Implements `OAuth2Endpoint.discover`: validates the issuer and options
 * (before any fetch), then reuses a cached endpoint or discovers a new one.
 */
export function discoverEndpoint<E>(
  issuer: string,
  options: DiscoverOptions,
  create: (options: OAuth2EndpointOptions) => E,
): Promise<E> {
  assertObject('options', options);
  const url = validateIssuer(issuer, options.allowInsecureHttp);
  const maxAgeMs = options.metadataMaxAgeMs ?? 3_600_000;
  assertIntegerInRange('metadataMaxAgeMs', maxAgeMs, 0, 86_400_000);
  if ('tokenUrl' in options) {
    throw new TypeError('Expected no `tokenUrl` in the options of `discover`: the metadata gives the token endpoint');
  }
  // Every option but the token URL is checked now; the issuer stands in for the URL the metadata will give.
  validateEndpointOptions({ ...options, tokenUrl: url.href });

  const now = (options.now ?? Date.now)();
  const key = optionsFingerprint(issuer, options);
  const cached = discovered.get(key) as CachedEndpoint<E> | undefined;
  if (cached !== undefined && cached.expiresAt > now) return cached.endpoint;
  const endpoint = build(issuer, url, options, create);
  const entry: CachedEndpoint<E> = { endpoint, expiresAt: now + maxAgeMs };
  if (maxAgeMs > 0) {
    discovered.delete(key);
    discovered.set(key, entry);
    if (discovered.size > MAX_CACHED_ENDPOINTS) discovered.delete(discovered.keys().next().value!);
    // A failure is not kept: the next call discovers again.
    endpoint.catch(() => {
      if (discovered.get(key) === entry) discovered.delete(key);
    });
  }
  return endpoint;
}
