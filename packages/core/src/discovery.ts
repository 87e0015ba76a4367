/**
 * Authorization server metadata discovery: OpenID Connect Discovery 1.0
 * and RFC 8414, for `OAuth2Endpoint.discover`. The metadata is only ever
 * trusted for the issuer asked for (RFC 8414 §3.3, OIDC Discovery §4.3): a
 * document naming another issuer could send client credentials anywhere.
 */
import { describeClientKey } from './client-assertion.js';
import { describeUrl } from './describe-url.js';
import { DiscoveryError } from './errors.js';
import {
  defaultAuthMethod,
  isLoopbackHost,
  validateEndpointOptions,
  type OAuth2EndpointOptions,
} from './oauth2-endpoint-options.js';
import { readBoundedText } from './read-body.js';
import type { ClientAuthMethod } from './token-request.js';
import { assertIntegerInRange, assertNonEmptyString, assertObject, describe, invalid } from './validate.js';

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

/** The members of the metadata refreshkit uses, validated. */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** `token_endpoint_auth_methods_supported`, or RFC 8414's default `['client_secret_basic']`. */
  readonly authMethodsSupported: readonly string[];
  /** `token_endpoint_auth_signing_alg_values_supported`, when the provider lists them. */
  readonly signingAlgorithmsSupported: readonly string[] | undefined;
}

/** Methods tried, in order, when `authMethod` is not given, by what the credentials allow. */
const PREFERRED_METHODS: Readonly<Record<'key' | 'secret' | 'public', readonly ClientAuthMethod[]>> = {
  key: ['private_key_jwt'],
  secret: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'],
  public: ['none'],
};

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

/**
 * Where the metadata may be: the OpenID Connect location (the issuer with
 * `/.well-known/openid-configuration` appended), then RFC 8414's (the
 * well-known segment inserted between the host and the issuer's path).
 */
export function metadataUrls(issuer: URL): [string, string] {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '');
  return [
    `${issuer.origin}${path}/.well-known/openid-configuration`,
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

function stringList(issuer: string, name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new DiscoveryError('invalid_metadata', issuer, `\`${name}\` is not an array of strings`);
  }
  return value as string[];
}

/** Validates a metadata document for `issuer`. */
export function parseMetadata(issuer: string, text: string, upstreamStatus: number): AuthorizationServerMetadata {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new DiscoveryError('invalid_metadata', issuer, 'the metadata is not JSON', { upstreamStatus });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new DiscoveryError('invalid_metadata', issuer, 'the metadata is not a JSON object', { upstreamStatus });
  }
  const metadata = document as Record<string, unknown>;
  if (metadata.issuer !== issuer) {
    throw new DiscoveryError(
      'issuer_mismatch',
      issuer,
      `the metadata names the issuer ${describe(metadata.issuer)}; it must equal the issuer asked for exactly (check a trailing slash), or it cannot be trusted`,
      { upstreamStatus },
    );
  }
  if (typeof metadata.token_endpoint !== 'string' || metadata.token_endpoint.length === 0) {
    throw new DiscoveryError('invalid_metadata', issuer, 'the metadata has no `token_endpoint`', { upstreamStatus });
  }
  return {
    issuer,
    tokenEndpoint: metadata.token_endpoint,
    authMethodsSupported: stringList(
      issuer,
      'token_endpoint_auth_methods_supported',
      metadata.token_endpoint_auth_methods_supported,
    ) ?? ['client_secret_basic'],
    signingAlgorithmsSupported: stringList(
      issuer,
      'token_endpoint_auth_signing_alg_values_supported',
      metadata.token_endpoint_auth_signing_alg_values_supported,
    ),
  };
}

function listed(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.map((value) => `\`${value}\``).join(', ');
}

/**
 * The client authentication method to use: the one configured, if the
 * provider supports it, else the first the credentials allow that it does.
 * With a signing algorithm known now (a fixed key, or HS256 for
 * `client_secret_jwt`), the provider must accept that too.
 */
export function chooseAuthMethod(metadata: AuthorizationServerMetadata, options: DiscoverOptions): ClientAuthMethod {
  const supported = metadata.authMethodsSupported;
  const implied = defaultAuthMethod(options);
  const kind = implied === 'private_key_jwt' ? 'key' : implied === 'none' ? 'public' : 'secret';
  const method = options.authMethod ?? PREFERRED_METHODS[kind].find((candidate) => supported.includes(candidate));
  if (method === undefined || !supported.includes(method)) {
    const wanted =
      options.authMethod === undefined
        ? `any of ${listed(PREFERRED_METHODS[kind])} (what ${kind === 'key' ? 'a `clientKey`' : kind === 'secret' ? 'a `clientSecret`' : 'a client without credentials'} allows)`
        : `\`authMethod: '${options.authMethod}'\``;
    throw new DiscoveryError(
      'unsupported_auth_method',
      metadata.issuer,
      `the token endpoint supports ${listed(supported)} (token_endpoint_auth_methods_supported), not ${wanted}: choose a supported \`authMethod\` and the credentials it needs, or have the client registered for it`,
    );
  }
  const algorithms = metadata.signingAlgorithmsSupported;
  const alg =
    method === 'client_secret_jwt'
      ? 'HS256'
      : method === 'private_key_jwt' && options.clientKey !== undefined && typeof options.clientKey !== 'function'
        ? describeClientKey('clientKey', options.clientKey).alg
        : undefined;
  if (algorithms !== undefined && alg !== undefined && !algorithms.includes(alg)) {
    throw new DiscoveryError(
      'unsupported_auth_method',
      metadata.issuer,
      `the token endpoint accepts client assertions signed with ${listed(algorithms)} (token_endpoint_auth_signing_alg_values_supported), not \`${alg}\`: use a key of a supported algorithm`,
    );
  }
  return method;
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
