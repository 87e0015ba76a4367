import { describeUrl } from './describe-url.js';
import { validateRefreshTokenLifetime, type RefreshTokenLifetime } from './refresh-token-lifetime.js';
import { describeClientKey, type ClientKey, type ClientKeyProvider } from './client-assertion.js';
import { describeDpopKey } from './dpop-key.js';
import type { DpopOptions } from './dpop-prover.js';
import type { BodyEncoding, ClientAuthMethod, FieldNaming } from './token-request.js';
import {
  assertFunction,
  assertIntegerInRange,
  assertNonEmptyString,
  assertNumberInRange,
  assertObject,
  assertOneOf,
  invalid,
} from './validate.js';

/** Retry policy for transient token-endpoint failures (network, timeout, 5xx, 429). */
export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * Range: integer from 1 to 10.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Upper bound of the first backoff; doubles per attempt (full jitter).
   * Range: finite number >= 0.
   * @default 200
   */
  readonly baseDelayMs?: number;
  /**
   * Largest single backoff.
   * Range: finite number >= 0.
   * @default 5_000
   */
  readonly maxDelayMs?: number;
  /**
   * Longest `Retry-After` honoured by waiting; a longer one ends the retries
   * at once and is reported in the error's `retryAfterMs`.
   * Range: finite number >= 0.
   * @default 30_000
   */
  readonly maxRetryAfterMs?: number;
  /**
   * Longest hold honoured across calls. After a 429 or 503 with `Retry-After`,
   * every call of this endpoint (any key, any caller) fails fast with
   * `TokenEndpointUnavailableError` (its `retryAt` says until when) instead of
   * calling the server, for the time the server asked, capped at this. The cap
   * keeps a broken or hostile `Retry-After` (hours, years) from stopping
   * refreshes until a restart: after it one call tries again, and a server
   * still overloaded simply answers 429 again. `0` turns the hold off: each
   * call then honours `Retry-After` on its own only.
   * Range: integer from 0 to 86_400_000 (a day).
   * @default 300_000 (5 minutes)
   */
  readonly maxHoldMs?: number;
  /**
   * No retry starts after this much time since the first attempt.
   * Range: finite number >= 0.
   * @default 30_000
   */
  readonly maxElapsedMs?: number;
}

/** Options of {@link OAuth2Endpoint}. */
export interface OAuth2EndpointOptions {
  /**
   * The token endpoint. Must be https, unless the host is loopback or
   * `allowInsecureHttp` is set. Must not hold credentials (`user:pass@`) or
   * secret query parameters (`client_secret=`, `password=`, `...token=`,
   * `api_key=`...): use `clientSecret`. Errors name the endpoint by origin and
   * path only.
   */
  readonly tokenUrl: string;
  /** The OAuth client id. */
  readonly clientId: string;
  /**
   * The client secret. Never appears in errors or `inspect`. For a public
   * client, omit it or pass `authMethod: 'none'`: a `clientSecret` key that is
   * present but `undefined` (an unset environment variable) is refused, so a
   * missing secret never silently makes a confidential client public.
   */
  readonly clientSecret?: string | undefined;
  /**
   * Client authentication. `private_key_jwt` signs an RFC 7523 assertion
   * with `clientKey`; `client_secret_jwt` signs one with `clientSecret`
   * (HS256), which then never travels.
   * @default 'private_key_jwt' with a `clientKey`, 'client_secret_basic' with a secret, 'none' without either
   */
  readonly authMethod?: ClientAuthMethod;
  /**
   * The private key of a `private_key_jwt` client: a private JWK with its
   * `kid`, a `{ key: CryptoKey, kid }`, or a function returning the current
   * one (called for every assertion, so a rotated key is used without a
   * restart). Never appears in errors, events or `inspect`.
   */
  readonly clientKey?: ClientKey | ClientKeyProvider;
  /**
   * DPoP (RFC 9449): every token request carries a proof signed with
   * `dpop.key`, so the server binds the tokens to that key, and `cache.fetch`
   * sends a DPoP-bound token as `Authorization: DPoP` with a proof for each
   * call. `DPoP-Nonce` is learned per server and a `use_dpop_nonce` answer is
   * retried once. A server that answers with a bearer token anyway (binding
   * is its choice) is accepted: that token is sent as a bearer.
   * Without this option a `token_type: DPoP` answer is an `InvalidTokenResponseError`.
   */
  readonly dpop?: DpopOptions;
  /**
   * The `aud` of client assertions. RFC 7523 lets the token endpoint URL
   * identify the server, and every major provider accepts it; servers that
   * follow RFC 7523bis want the issuer identifier instead: pass it here.
   * @default the token endpoint URL
   */
  readonly assertionAudience?: string;
  /**
   * Request body encoding.
   * @default 'form'
   */
  readonly bodyEncoding?: BodyEncoding;
  /**
   * Spelling of request parameter names (`refresh_token` or `refreshToken`).
   * @default 'snake_case'
   */
  readonly fieldNaming?: FieldNaming;
  /** Extra parameters sent on every grant (`redirect_uri`, `resource`, `audience`), snake_case names. */
  readonly params?: Readonly<Record<string, string>>;
  /** Space-delimited scopes for the client-credentials grant. */
  readonly scope?: string;
  /**
   * Per-attempt timeout, body included.
   * Range: integer from 1 to 600_000.
   * @default 10_000
   */
  readonly timeoutMs?: number;
  /**
   * Token lifetime assumed when the response has neither `expires_in` nor a JWT `exp`.
   * Without it such tokens are valid until a 401 says otherwise.
   * Range: integer >= 1.
   */
  readonly defaultExpiresInMs?: number;
  /**
   * Refresh-token lifetimes from the provider's documentation, used when its
   * answers do not state one (`refresh_token_expires_in`): sets
   * `refreshTokenExpiresAt` (and, with `absoluteMs`, `grantExpiresAt`) on
   * the token sets this endpoint returns. Without it, and without the
   * server saying, a refresh token's expiry is unknown.
   */
  readonly refreshTokenLifetime?: RefreshTokenLifetime;
  /**
   * Largest response body accepted.
   * Range: integer from 1_024 to 16_777_216.
   * @default 65_536
   */
  readonly maxResponseBytes?: number;
  /** Retry policy for transient failures. */
  readonly retry?: RetryOptions;
  /**
   * Allows an `http:` token URL on a non-loopback host (tests behind a proxy only).
   * @default false
   */
  readonly allowInsecureHttp?: boolean;
  /**
   * The `fetch` to use.
   * @default globalThis.fetch
   */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Clock in ms since the epoch.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Waits between retries; inject one in tests to observe delays without waiting.
   * @default a timer-based sleep that honours the signal
   */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Random source in [0, 1) for backoff jitter.
   * @default Math.random
   */
  readonly random?: () => number;
}

/** Retry policy with every default applied. */
export type ResolvedRetry = Required<RetryOptions>;

const RETRY_DEFAULTS: ResolvedRetry = {
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
  maxHoldMs: 300_000,
  maxElapsedMs: 30_000,
};

/** Query parameter names that carry secrets: they belong in `clientSecret`, not in a URL that ends up in logs. */
const SECRET_PARAM = /secret|passw|pwd|token|api_?key|^key$|assertion|credential|signature|^sig$|^code$/;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `hostname` is a loopback name or address. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Every client authentication method, in the order discovery prefers them when none is chosen. */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'none',
];

/** The method the options imply when `authMethod` is absent. */
export function defaultAuthMethod(
  options: Pick<OAuth2EndpointOptions, 'clientKey' | 'clientSecret'>,
): ClientAuthMethod {
  if (options.clientKey !== undefined) return 'private_key_jwt';
  return options.clientSecret === undefined ? 'none' : 'client_secret_basic';
}

/** Checks a static `clientKey` now, so a bad key fails at start-up rather than at the first refresh. */
function validateClientKey(options: OAuth2EndpointOptions): void {
  if (options.clientKey === undefined || typeof options.clientKey === 'function') return;
  describeClientKey('clientKey', options.clientKey);
}

/** Validates {@link OAuth2EndpointOptions}; returns the token URL and retry policy resolved. */
export function validateEndpointOptions(options: OAuth2EndpointOptions): {
  tokenUrl: URL;
  authMethod: ClientAuthMethod;
  retry: ResolvedRetry;
  refreshTokenLifetime: RefreshTokenLifetime | undefined;
} {
  assertObject('options', options);
  assertNonEmptyString('tokenUrl', options.tokenUrl);
  // Check credentials first, and show the URL only through describeUrl: a
  // message must not repeat a secret the caller put in the wrong place.
  let tokenUrl: URL;
  try {
    tokenUrl = new URL(options.tokenUrl);
  } catch {
    throw invalid('tokenUrl', 'an absolute URL', describeUrl(options.tokenUrl));
  }
  if (tokenUrl.username || tokenUrl.password) {
    throw new TypeError(
      `Expected \`tokenUrl\` to be a URL without credentials, got \`${describeUrl(options.tokenUrl)}\` with credentials (hidden): pass the client id and secret as \`clientId\` and \`clientSecret\``,
    );
  }
  for (const name of tokenUrl.searchParams.keys()) {
    if (SECRET_PARAM.test(name.toLowerCase().replace(/-/g, '_'))) {
      throw new TypeError(
        `Expected \`tokenUrl\` to be a URL without secrets in its query, got \`${describeUrl(options.tokenUrl)}\` with a \`${name}\` parameter (value hidden): pass secrets as \`clientSecret\` or \`params\``,
      );
    }
  }
  const insecureAllowed = options.allowInsecureHttp === true || isLoopbackHost(tokenUrl.hostname);
  if (tokenUrl.protocol !== 'https:' && !(tokenUrl.protocol === 'http:' && insecureAllowed)) {
    throw invalid(
      'tokenUrl',
      'an https URL (http only for loopback hosts or with `allowInsecureHttp`)',
      describeUrl(options.tokenUrl),
    );
  }

  assertNonEmptyString('clientId', options.clientId);
  validateClientKey(options);
  const unsetSecret = ('clientSecret' in options && options.clientSecret === undefined) || options.clientSecret === '';
  const keyAuthenticated = options.clientKey !== undefined || options.authMethod === 'private_key_jwt';
  if (unsetSecret && options.authMethod !== 'none' && !keyAuthenticated) {
    throw new TypeError(
      `Expected \`clientSecret\` to be a non-empty string, got ${options.clientSecret === '' ? 'an empty string' : '`undefined`'}: set it (is an environment variable unset?), or pass \`authMethod: 'none'\` for a public client without a secret`,
    );
  }
  if (options.clientSecret !== undefined) assertNonEmptyString('clientSecret', options.clientSecret, true);
  const authMethod = options.authMethod ?? defaultAuthMethod(options);
  assertOneOf('authMethod', authMethod, CLIENT_AUTH_METHODS);
  if (authMethod === 'private_key_jwt') {
    if (options.clientKey === undefined) {
      throw invalid(
        'clientKey',
        "a private JWK, `{ key: CryptoKey, kid }` or a function returning one when `authMethod` is `'private_key_jwt'`",
        undefined,
      );
    }
    if (options.clientSecret !== undefined) {
      throw invalid(
        'clientSecret',
        "absent when `authMethod` is `'private_key_jwt'` (the key authenticates the client)",
        options.clientSecret,
        true,
      );
    }
  } else if (options.clientKey !== undefined) {
    throw new TypeError(
      `Expected \`clientKey\` only with \`authMethod: 'private_key_jwt'\`, got it with \`authMethod: '${authMethod}'\`: remove one of them`,
    );
  }
  if (options.assertionAudience !== undefined) assertNonEmptyString('assertionAudience', options.assertionAudience);
  if (options.dpop !== undefined) {
    assertObject('dpop', options.dpop);
    if (options.dpop.key !== undefined) describeDpopKey('dpop.key', options.dpop.key);
  }
  if (authMethod === 'none' && options.clientSecret !== undefined) {
    throw invalid(
      'clientSecret',
      "absent when `authMethod` is `'none'` (public clients have no secret)",
      options.clientSecret,
      true,
    );
  }
  if (authMethod !== 'none' && authMethod !== 'private_key_jwt' && options.clientSecret === undefined) {
    throw invalid('clientSecret', `a non-empty string when \`authMethod\` is \`'${authMethod}'\``, undefined);
  }
  if (options.bodyEncoding !== undefined) assertOneOf('bodyEncoding', options.bodyEncoding, ['form', 'json']);
  if (options.fieldNaming !== undefined) assertOneOf('fieldNaming', options.fieldNaming, ['snake_case', 'camelCase']);
  if (options.params !== undefined) {
    assertObject('params', options.params);
    for (const [name, value] of Object.entries(options.params)) {
      if (typeof value !== 'string') throw invalid(`params.${name}`, 'a string', value);
    }
  }
  if (options.scope !== undefined && typeof options.scope !== 'string')
    throw invalid('scope', 'a string', options.scope);
  if (options.timeoutMs !== undefined) assertIntegerInRange('timeoutMs', options.timeoutMs, 1, 600_000);
  if (options.defaultExpiresInMs !== undefined)
    assertIntegerInRange('defaultExpiresInMs', options.defaultExpiresInMs, 1);
  if (options.maxResponseBytes !== undefined) {
    assertIntegerInRange('maxResponseBytes', options.maxResponseBytes, 1_024, 16_777_216);
  }
  for (const name of ['fetch', 'now', 'sleep', 'random'] as const) {
    if (options[name] !== undefined) assertFunction(name, options[name]);
  }

  const retry = { ...RETRY_DEFAULTS };
  if (options.retry !== undefined) {
    assertObject('retry', options.retry);
    if (options.retry.maxAttempts !== undefined)
      assertIntegerInRange('retry.maxAttempts', options.retry.maxAttempts, 1, 10);
    if (options.retry.maxHoldMs !== undefined)
      assertIntegerInRange('retry.maxHoldMs', options.retry.maxHoldMs, 0, 86_400_000);
    for (const name of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs', 'maxElapsedMs'] as const) {
      if (options.retry[name] !== undefined) assertNumberInRange(`retry.${name}`, options.retry[name], 0);
    }
    Object.assign(retry, Object.fromEntries(Object.entries(options.retry).filter(([, v]) => v !== undefined)));
  }
  const refreshTokenLifetime =
    options.refreshTokenLifetime === undefined ? undefined : validateRefreshTokenLifetime(options.refreshTokenLifetime);
  return { tokenUrl, authMethod, retry, refreshTokenLifetime };
}
