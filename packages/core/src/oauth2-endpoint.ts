import { sleep as timerSleep } from './abortable.js';
import { InvalidTokenResponseError, TokenEndpointConfigurationError, TokenEndpointUnavailableError } from './errors.js';
import { describeUrl } from './describe-url.js';
import { validateEndpointOptions, type OAuth2EndpointOptions, type ResolvedRetry } from './oauth2-endpoint-options.js';
import { readBoundedText } from './read-body.js';
import { backoffDelay } from './backoff.js';
import { assertCodeVerifier } from './pkce.js';
import { withGrantLifecycle, type GrantLifecycleContext, type RefreshTokenLifetime } from './refresh-token-lifetime.js';
import { parseRetryAfter } from './retry-after.js';
import type {
  AuthorizationCodeOptions,
  ClientCredentialsOptions,
  RefreshOptions,
  TokenEndpoint,
} from './token-endpoint.js';
import { ClientAssertionSigner } from './client-assertion.js';
import { DPOP_PROVER, isNonceChallengeError } from './dpop-binding.js';
import { DpopProver } from './dpop-prover.js';
import { discoverEndpoint, type DiscoverOptions } from './discovery.js';
import { buildTokenRequest, type BuiltTokenRequest, type RequestDialect } from './token-request.js';
import { interpretTokenResponse } from './token-response.js';
import type { TokenSet } from './token-set.js';
import { assertNonEmptyString, assertObject, describe } from './validate.js';

type Outcome = { tokens: TokenSet; sentAt: number } | { error: Error; transient: boolean };

/** What `#grant` needs to finish a token set: the grant, and the set a refresh replaces. */
type GrantKind = Pick<GrantLifecycleContext, 'grantType' | 'previous'>;

/** What `invalid_grant` means in a code exchange: the user must start over, the client is not misconfigured. */
const REFUSED_CODE =
  'the authorization code was refused (used, expired, or its code_verifier or redirect_uri does not match the authorization request): start the sign-in again';

/**
 * A client for one OAuth 2.0 token endpoint, speaking whichever dialect the
 * provider needs (client authentication, body encoding, parameter naming,
 * response spelling), with typed errors and safe retries.
 *
 * Retries cover network failures, timeouts, 5xx, 408 and 429, with
 * jittered exponential backoff that honours `Retry-After`. A 2xx with a bad
 * body is never retried: the server may already have consumed the refresh
 * token.
 *
 * Holding off: after a 429 or 503 with `Retry-After`, every call of this
 * endpoint, for any key and any caller, fails fast with
 * `TokenEndpointUnavailableError` (with `retryAt` and `retryAfterMs`) until
 * the wait is over, capped at `retry.maxHoldMs`; only the call that got the
 * answer may wait it out and retry. Share one `OAuth2Endpoint` per OAuth
 * client (an endpoint factory should return the same instance for every key
 * of a client) so the hold covers every caller.
 *
 * Lost responses: when the server rotated the refresh token but its answer
 * never arrived (connection reset, timeout), the retry re-presents the old
 * refresh token at once. Servers with a reuse grace period answer with the
 * new token set; servers without one answer `invalid_grant`, which surfaces
 * as `ReauthenticationRequiredError` because the rotated token is gone for
 * every client. Retrying promptly is never worse than waiting: a later
 * attempt would present the same old token, outside any grace period.
 *
 * Code exchange: `authorizationCode` goes through the same dialect, retries,
 * parser and errors as `refresh`, so the first token set of a grant is built
 * exactly like every later one.
 *
 * @example
 * const endpoint = new OAuth2Endpoint({ tokenUrl, clientId, clientSecret });
 * const tokens = await endpoint.authorizationCode({ code, redirectUri, codeVerifier });
 * const next = await endpoint.refresh(tokens.refreshToken!, { previous: tokens });
 */
export class OAuth2Endpoint implements TokenEndpoint {
  readonly #tokenUrl: string;
  /** The token URL parsed once, for DPoP proofs (`htu`) and nonces (origin). */
  readonly #tokenUrlObject: URL;
  /** Signs DPoP proofs and keeps the server's nonce; undefined without the `dpop` option. */
  readonly #dpop: DpopProver | undefined;
  /** Origin and path of the token URL: how messages name the endpoint. */
  readonly #label: string;
  /** Until when (ms epoch) calls fail fast instead of reaching the server, after a `Retry-After`. */
  #holdUntil = 0;
  /** The answer that started the hold, so refused calls can say what the server said. */
  #holdReason = '';
  readonly #dialect: RequestDialect;
  /** Signs the client assertion of `private_key_jwt` and `client_secret_jwt`; undefined for the other methods. */
  readonly #signer: ClientAssertionSigner | undefined;
  readonly #assertionAudience: string;
  readonly #scope: string | undefined;
  readonly #timeoutMs: number;
  readonly #defaultExpiresInMs: number | undefined;
  readonly #refreshTokenLifetime: RefreshTokenLifetime | undefined;
  readonly #maxResponseBytes: number;
  readonly #retry: ResolvedRetry;
  readonly #fetch: typeof globalThis.fetch;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;

  /** @throws TypeError naming the option, when an option is invalid. */
  constructor(options: OAuth2EndpointOptions) {
    const { tokenUrl, authMethod, retry, refreshTokenLifetime } = validateEndpointOptions(options);
    this.#refreshTokenLifetime = refreshTokenLifetime;
    this.#tokenUrl = tokenUrl.href;
    this.#tokenUrlObject = tokenUrl;
    this.#label = describeUrl(tokenUrl.href);
    this.#dialect = {
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      authMethod,
      bodyEncoding: options.bodyEncoding ?? 'form',
      fieldNaming: options.fieldNaming ?? 'snake_case',
      params: { ...options.params },
    };
    this.#signer =
      authMethod === 'private_key_jwt'
        ? new ClientAssertionSigner({ method: authMethod, clientKey: options.clientKey! })
        : authMethod === 'client_secret_jwt'
          ? new ClientAssertionSigner({ method: authMethod, clientSecret: options.clientSecret!, alg: 'HS256' })
          : undefined;
    this.#assertionAudience = options.assertionAudience ?? this.#tokenUrl;
    this.#scope = options.scope;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#defaultExpiresInMs = options.defaultExpiresInMs;
    this.#maxResponseBytes = options.maxResponseBytes ?? 65_536;
    this.#retry = retry;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? timerSleep;
    this.#random = options.random ?? Math.random;
    this.#dpop = options.dpop === undefined ? undefined : new DpopProver(options.dpop, this.#now);
  }

  /** The DPoP prover `cache.fetch` signs outbound proofs with; internal (a symbol, not public API). */
  get [DPOP_PROVER](): DpopProver | undefined {
    return this.#dpop;
  }

  /**
   * An endpoint for the authorization server `issuer`, from its metadata:
   * OpenID Connect discovery (`/.well-known/openid-configuration`), else
   * RFC 8414 (`/.well-known/oauth-authorization-server`, inserted before the
   * issuer's path). The metadata's `issuer` must equal `issuer` exactly.
   * The client authentication method is `options.authMethod` when given
   * (an error if the provider does not list it), else the first the
   * provider supports that the credentials allow: `private_key_jwt` with a
   * `clientKey`, `client_secret_basic`, `client_secret_post` or
   * `client_secret_jwt` with a secret, `none` without either.
   *
   * The endpoint is reused for `metadataMaxAgeMs` by every call with the
   * same issuer and equal options (functions and keys compared by
   * identity), so one endpoint, with its `Retry-After` hold, serves every
   * caller. A failed discovery is not kept: the next call tries again.
   *
   * @throws TypeError for a bad issuer or option; nothing is fetched.
   * @throws DiscoveryError when the metadata cannot be fetched, is missing,
   * malformed, for another issuer, or does not support what was configured.
   */
  static discover(issuer: string, options: DiscoverOptions): Promise<OAuth2Endpoint> {
    return discoverEndpoint(issuer, options, (endpointOptions) => new OAuth2Endpoint(endpointOptions));
  }

  /** The token endpoint URL. */
  get tokenUrl(): string {
    return this.#tokenUrl;
  }

  /** The OAuth client id. */
  get clientId(): string {
    return this.#dialect.clientId;
  }

  /**
   * `refresh_token` grant. The result keeps no refresh token when the server
   * sent none; the cache then keeps the old one. With `options.previous`
   * (the set being refreshed), the result carries its `grantExpiresAt`, the
   * expiry of a refresh token not rotated, and the `extras` not repeated.
   *
   * @throws TypeError when `options.previous` holds a different refresh token.
   */
  refresh(refreshToken: string, options?: RefreshOptions): Promise<TokenSet> {
    assertNonEmptyString('refreshToken', refreshToken, true);
    const previous = options?.previous;
    if (previous !== undefined) {
      assertObject('options.previous', previous);
      if (previous.refreshToken !== undefined && previous.refreshToken !== refreshToken) {
        throw new TypeError(
          'Expected `options.previous` to be the token set holding the refresh token presented, got one holding another (neither shown)',
        );
      }
    }
    return this.#grant({ grant_type: 'refresh_token', refresh_token: refreshToken }, [refreshToken], options?.signal, {
      grantType: 'refresh_token',
      previous,
    });
  }

  /** `client_credentials` grant, with `scope` from the call or the options. */
  clientCredentials(options?: ClientCredentialsOptions): Promise<TokenSet> {
    const scope = options?.scope ?? this.#scope;
    return this.#grant({ grant_type: 'client_credentials', ...(scope && { scope }) }, [], options?.signal, {
      grantType: 'client_credentials',
      previous: undefined,
    });
  }

  /**
   * `authorization_code` grant (RFC 6749 §4.1.3, with RFC 7636's
   * `code_verifier`): the first token set of a user's grant, to `cache.set`.
   * Sent in the endpoint's dialect, retried like a refresh (a code the
   * server consumed before its answer was lost then fails with
   * `invalid_grant`, which needs a new sign-in, as no retry would).
   *
   * @throws TypeError for a missing code, a redirect URI that is no
   * absolute URL, or a malformed verifier; nothing is sent.
   * @throws ReauthenticationRequiredError (`invalid_grant`) when the server
   * refuses the code: used, expired, or its `code_verifier` or
   * `redirect_uri` does not match. The user must sign in again; the client's
   * configuration is not at fault, so this is not a configuration error.
   */
  authorizationCode(options: AuthorizationCodeOptions): Promise<TokenSet> {
    assertObject('options', options);
    const { code, redirectUri, codeVerifier, signal } = options;
    assertNonEmptyString('code', code, true);
    assertNonEmptyString('redirectUri', redirectUri);
    if (!URL.canParse(redirectUri)) {
      throw new TypeError(
        `Expected \`redirectUri\` to be an absolute URL, the \`redirect_uri\` of the authorization request exactly as sent, got ${describe(redirectUri)}`,
      );
    }
    if (codeVerifier !== undefined) assertCodeVerifier('codeVerifier', codeVerifier);
    const params: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: redirectUri };
    if (codeVerifier !== undefined) params.code_verifier = codeVerifier;
    return this.#grant(params, [code, codeVerifier], signal, {
      grantType: 'authorization_code',
      previous: undefined,
    });
  }

  /** Keeps `util.inspect` output useful and free of secrets. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    // DPoP is named (never its key): a token bound or not is the first thing to check when an API says 401.
    const dpop = this.#dpop === undefined ? '' : ', dpop: true';
    return `OAuth2Endpoint { tokenUrl: '${this.#tokenUrl}', clientId: '${this.#dialect.clientId}', authMethod: '${this.#dialect.authMethod}'${dpop} }`;
  }

  /** `JSON.stringify` shows the same as `inspect`: no secret. */
  toJSON(): { tokenUrl: string; clientId: string; authMethod: string } {
    return { tokenUrl: this.#tokenUrl, clientId: this.#dialect.clientId, authMethod: this.#dialect.authMethod };
  }

  async #grant(
    grantParams: Record<string, string>,
    sent: (string | undefined)[],
    signal: AbortSignal | undefined,
    kind: GrantKind,
  ): Promise<TokenSet> {
    signal?.throwIfAborted();
    const firstAttemptAt = this.#now();
    const held = this.#heldError(firstAttemptAt);
    if (held !== undefined) throw held;
    // RFC 9449 §8: a `use_dpop_nonce` answer is retried once with the nonce it carried, outside the retry budget.
    let nonceRetried = false;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      // Built per attempt: a client assertion's `jti` is single-use, so a retry needs a new one.
      // Without a signer nothing is awaited: the secret-based methods cost what they did.
      const clientAssertion = this.#signer === undefined ? undefined : await this.#signAssertion(this.#signer, signal);
      const built = buildTokenRequest(this.#dialect, grantParams, clientAssertion);
      // A new proof per attempt too: its `jti` is single-use and the nonce may have changed.
      const dpop = this.#dpop === undefined ? undefined : await this.#proveTokenRequest(this.#dpop, signal);
      const request = dpop === undefined ? built : { ...built, headers: { ...built.headers, dpop: dpop.proof } };
      const secrets = [
        ...sent,
        this.#dialect.clientSecret,
        request.basicCredentials,
        request.basicCredentials?.slice('Basic '.length),
        clientAssertion,
      ];
      const outcome = await this.#attempt(request, secrets, signal, kind.grantType, dpop?.jkt);
      if ('tokens' in outcome) {
        // The server answers again: whatever hold an earlier answer started is over.
        this.#holdUntil = 0;
        return withGrantLifecycle(outcome.tokens, {
          ...kind,
          sentAt: outcome.sentAt,
          lifetime: this.#refreshTokenLifetime,
        });
      }
      if (dpop !== undefined && !nonceRetried && isNonceChallengeError(outcome.error)) {
        nonceRetried = true;
        attempt--;
        continue;
      }
      const error = outcome.transient ? this.#startHold(outcome.error) : outcome.error;
      const delay = outcome.transient ? this.#retryDelay(attempt, error, firstAttemptAt) : undefined;
      if (delay === undefined) throw error;
      await this.#sleep(delay, signal);
    }
  }

  /** A DPoP proof for one token request and the thumbprint the tokens will be bound to. */
  async #proveTokenRequest(dpop: DpopProver, signal: AbortSignal | undefined): Promise<{ proof: string; jkt: string }> {
    const proof = await dpop.proof({ method: 'POST', url: this.#tokenUrlObject });
    const jkt = await dpop.thumbprint();
    signal?.throwIfAborted();
    return { proof, jkt };
  }

  /** A new client assertion, then a check that the call was not cancelled while signing. */
  async #signAssertion(signer: ClientAssertionSigner, signal: AbortSignal | undefined): Promise<string> {
    const assertion = await signer.sign(this.#dialect.clientId, this.#assertionAudience, this.#now());
    signal?.throwIfAborted();
    return assertion;
  }

  /**
   * Starts (or extends) the hold a `Retry-After` asks for, and returns the
   * error with `retryAt` set. Other calls are refused until then; the call
   * that got the answer may still wait it out itself and retry, as before.
   */
  #startHold(error: Error): Error {
    if (!(error instanceof TokenEndpointUnavailableError) || error.retryAfterMs === undefined) return error;
    if (this.#retry.maxHoldMs === 0) return error;
    const now = this.#now();
    const until = now + Math.min(error.retryAfterMs, this.#retry.maxHoldMs);
    if (until > this.#holdUntil) {
      this.#holdUntil = until;
      this.#holdReason = error.upstreamStatus === undefined ? 'asked to wait' : `answered ${error.upstreamStatus}`;
    }
    return new TokenEndpointUnavailableError(error.message, {
      cause: error.cause,
      upstreamStatus: error.upstreamStatus,
      ...(error.oauthError !== undefined && { oauthError: error.oauthError }),
      ...(error.response !== undefined && { response: error.response }),
      retryAfterMs: error.retryAfterMs,
      retryAt: this.#holdUntil,
    });
  }

  /** The error a call gets while the endpoint holds off, or undefined when it may call. */
  #heldError(now: number): TokenEndpointUnavailableError | undefined {
    if (now >= this.#holdUntil) return undefined;
    const retryAfterMs = this.#holdUntil - now;
    return new TokenEndpointUnavailableError(
      `Token endpoint ${this.#label} not called: it ${this.#holdReason} with Retry-After, and the wait ends in ${Math.ceil(retryAfterMs / 1000)} s`,
      { retryAfterMs, retryAt: this.#holdUntil },
    );
  }

  /** The pause before the next attempt, or undefined when retries are over. */
  #retryDelay(attempt: number, error: Error, firstAttemptAt: number): number | undefined {
    if (attempt >= this.#retry.maxAttempts) return undefined;
    const retryAfterMs = error instanceof TokenEndpointUnavailableError ? error.retryAfterMs : undefined;
    if (retryAfterMs !== undefined && retryAfterMs > this.#retry.maxRetryAfterMs) return undefined;
    // A hold another call started outlasts this call's own backoff: wait for it, not less.
    const holdLeft = this.#holdUntil - this.#now();
    const delay = Math.max(
      retryAfterMs ??
        backoffDelay(
          attempt,
          { baseMs: this.#retry.baseDelayMs, maxMs: this.#retry.maxDelayMs },
          'full',
          this.#random(),
        ),
      holdLeft,
    );
    return this.#now() - firstAttemptAt + delay > this.#retry.maxElapsedMs ? undefined : delay;
  }

  async #attempt(
    request: BuiltTokenRequest,
    secrets: (string | undefined)[],
    signal: AbortSignal | undefined,
    grantType: GrantKind['grantType'],
    dpopJkt: string | undefined,
  ): Promise<Outcome> {
    const sentAt = this.#now();
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(this.#tokenUrl, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        // A redirect would carry client credentials to wherever it points.
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      this.#dpop?.learnNonce(this.#tokenUrlObject.origin, response.headers.get('dpop-nonce'));
      const { text, truncated } = await readBoundedText(response, this.#maxResponseBytes);
      const upstreamStatus = response.status;
      if (upstreamStatus >= 300 && upstreamStatus < 400) {
        const error = new TokenEndpointConfigurationError(
          `Token endpoint ${this.#label} answered with a redirect (${upstreamStatus}); refusing to follow it with client credentials`,
          { upstreamStatus },
        );
        return { error, transient: false };
      }
      if (truncated && response.ok) {
        const error = new InvalidTokenResponseError(
          `Token endpoint ${this.#label} answered ${upstreamStatus} with a body larger than ${this.#maxResponseBytes} bytes`,
          { upstreamStatus },
        );
        return { error, transient: false };
      }
      const raw = {
        status: upstreamStatus,
        contentType: response.headers.get('content-type') ?? undefined,
        text,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), this.#now()),
      };
      const outcome = interpretTokenResponse(raw, {
        sentAt,
        defaultExpiresInMs: this.#defaultExpiresInMs,
        secrets,
        endpoint: this.#label,
        ...(grantType === 'authorization_code' && { invalidGrantMeaning: REFUSED_CODE }),
        ...(dpopJkt !== undefined && { dpopJkt }),
      });
      return 'tokens' in outcome ? { tokens: outcome.tokens, sentAt } : outcome;
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      const reason = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : `network error${networkCode(cause)}`;
      return {
        error: new TokenEndpointUnavailableError(`Token endpoint ${this.#label} unreachable (${reason})`, { cause }),
        transient: true,
      };
    }
  }
}

/** The system error code behind a fetch failure (`ECONNRESET`), for the message. */
function networkCode(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? `: ${code}` : '';
}
