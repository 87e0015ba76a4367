/**
 * What refreshkit reads from authorization server metadata (RFC 8414 §2,
 * OpenID Connect Discovery §3), where it is, and which client
 * authentication method it allows.
 */
import { describeClientKey } from './client-assertion.js';
import { DiscoveryError } from './errors.js';
import { defaultAuthMethod, type OAuth2EndpointOptions } from './oauth2-endpoint-options.js';
import type { ClientAuthMethod } from './token-request.js';
import { describe } from './validate.js';

/** The members of the metadata refreshkit uses, validated. */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** `token_endpoint_auth_methods_supported`, or RFC 8414's default `['client_secret_basic']`. */
  readonly authMethodsSupported: readonly string[];
  /** `token_endpoint_auth_signing_alg_values_supported`, when the provider lists them. */
  readonly signingAlgorithmsSupported: readonly string[] | undefined;
  /** `dpop_signing_alg_values_supported` as found (checked only when DPoP is configured). */
  readonly dpopAlgorithmsSupported: unknown;
}

/** Methods tried, in order, when `authMethod` is not given, by what the credentials allow. */
const PREFERRED_METHODS: Readonly<Record<'key' | 'secret' | 'public', readonly ClientAuthMethod[]>> = {
  key: ['private_key_jwt'],
  secret: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'],
  public: ['none'],
};

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
    dpopAlgorithmsSupported: metadata.dpop_signing_alg_values_supported,
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
export function chooseAuthMethod(
  metadata: AuthorizationServerMetadata,
  options: Pick<OAuth2EndpointOptions, 'authMethod' | 'clientKey' | 'clientSecret'>,
): ClientAuthMethod {
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
