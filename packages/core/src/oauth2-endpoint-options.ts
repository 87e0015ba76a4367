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
   * @default 3
   * Range: integer from 1 to 10.
   */
  readonly maxAttempts?: number;
  /**
   * Upper bound of the first backoff; doubles per attempt (full jitter).
   * @default 200
   * Range: finite number >= 0.
   */
  readonly baseDelayMs?: number;
  /**
   * Largest single backoff.
   * @default 5_000
   * Range: finite number >= 0.
   */
  readonly maxDelayMs?: number;
  /**
   * Longest `Retry-After` honoured by waiting; a longer one ends the retries
   * at once and is reported in the error's `retryAfterMs`.
   * @default 30_000
   * Range: finite number >= 0.
   */
  readonly maxRetryAfterMs?: number;
  /**
   * No retry starts after this much time since the first attempt.
   * @default 30_000
   * Range: finite number >= 0.
   */
  readonly maxElapsedMs?: number;
}

/** Options of {@link OAuth2Endpoint}. */
export interface OAuth2EndpointOptions {
  /** The token endpoint. Must be https, unless the host is loopback or `allowInsecureHttp` is set. */
  readonly tokenUrl: string;
  /** The OAuth client id. */
  readonly clientId: string;
  /** The client secret; omit for public clients. Never appears in errors or `inspect`. */
  readonly clientSecret?: string;
  /**
   * Client authentication.
   * @default 'client_secret_basic' with a secret, 'none' without
   */
  readonly authMethod?: ClientAuthMethod;
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
   * @default 10_000
   * Range: integer from 1 to 600_000.
   */
  readonly timeoutMs?: number;
  /**
   * Token lifetime assumed when the response has neither `expires_in` nor a JWT `exp`.
   * Without it such tokens are valid until a 401 says otherwise.
   * Range: integer >= 1.
   */
  readonly defaultExpiresInMs?: number;
  /**
   * Largest response body accepted.
   * @default 65_536
   * Range: integer from 1_024 to 16_777_216.
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
  maxElapsedMs: 30_000,
};

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `hostname` is a loopback name or address. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Validates {@link OAuth2EndpointOptions}; returns the token URL and retry policy resolved. */
export function validateEndpointOptions(options: OAuth2EndpointOptions): {
  tokenUrl: URL;
  authMethod: ClientAuthMethod;
  retry: ResolvedRetry;
} {
  assertObject('options', options);
  assertNonEmptyString('tokenUrl', options.tokenUrl);
  let tokenUrl: URL;
  try {
    tokenUrl = new URL(options.tokenUrl);
  } catch {
    throw invalid('tokenUrl', 'an absolute URL', options.tokenUrl);
  }
  const insecureAllowed = options.allowInsecureHttp === true || isLoopbackHost(tokenUrl.hostname);
  if (tokenUrl.protocol !== 'https:' && !(tokenUrl.protocol === 'http:' && insecureAllowed)) {
    throw invalid(
      'tokenUrl',
      'an https URL (http only for loopback hosts or with `allowInsecureHttp`)',
      options.tokenUrl,
    );
  }
  if (tokenUrl.username || tokenUrl.password) throw invalid('tokenUrl', 'a URL without credentials', '[credentials]');

  assertNonEmptyString('clientId', options.clientId);
  if (options.clientSecret !== undefined) assertNonEmptyString('clientSecret', options.clientSecret, true);
  const authMethod = options.authMethod ?? (options.clientSecret === undefined ? 'none' : 'client_secret_basic');
  assertOneOf('authMethod', authMethod, ['client_secret_basic', 'client_secret_post', 'none']);
  if (authMethod === 'none' && options.clientSecret !== undefined) {
    throw invalid(
      'clientSecret',
      "absent when `authMethod` is `'none'` (public clients have no secret)",
      options.clientSecret,
      true,
    );
  }
  if (authMethod !== 'none' && options.clientSecret === undefined) {
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
    for (const name of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs', 'maxElapsedMs'] as const) {
      if (options.retry[name] !== undefined) assertNumberInRange(`retry.${name}`, options.retry[name], 0);
    }
    Object.assign(retry, Object.fromEntries(Object.entries(options.retry).filter(([, v]) => v !== undefined)));
  }
  return { tokenUrl, authMethod, retry };
}
