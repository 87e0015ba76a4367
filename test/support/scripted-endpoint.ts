import type { ClientCredentialsOptions, EndpointCallOptions, TokenEndpoint, TokenSet } from '@refreshkit/core';

/** One call the scripted endpoint received. */
export interface EndpointCall {
  readonly grant: 'refresh_token' | 'client_credentials';
  readonly refreshToken?: string;
  readonly scope?: string;
}

/**
 * An in-process `TokenEndpoint` for cache tests: it records every call and
 * answers with fresh, numbered tokens (rotating the refresh token), or with
 * whatever `next` scripts. `hold()` parks answers until `release()`, so a
 * test can pile up callers while a refresh is in flight.
 */
export class ScriptedEndpoint implements TokenEndpoint {
  readonly calls: EndpointCall[] = [];
  /** Overrides the answer of upcoming calls; return or throw. */
  next: ((call: EndpointCall) => TokenSet | Promise<TokenSet>) | undefined;
  #serial = 0;
  #held: (() => void)[] | undefined;

  constructor(
    private readonly now: () => number,
    private readonly lifetimeMs = 3_600_000,
  ) {}

  /** Parks answers until {@link release}. */
  hold(): void {
    this.#held ??= [];
  }

  /** Lets every parked answer go. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const go of held) go();
  }

  refresh(refreshToken: string, _options?: EndpointCallOptions): Promise<TokenSet> {
    return this.#answer({ grant: 'refresh_token', refreshToken });
  }

  clientCredentials(options?: ClientCredentialsOptions): Promise<TokenSet> {
    return this.#answer({ grant: 'client_credentials', ...(options?.scope && { scope: options.scope }) });
  }

  async #answer(call: EndpointCall): Promise<TokenSet> {
    this.calls.push(call);
    if (this.#held) await new Promise<void>((go) => this.#held!.push(go));
    if (this.next) return this.next(call);
    const n = ++this.#serial;
    return {
      accessToken: `access-${n}`,
      ...(call.grant === 'refresh_token' && { refreshToken: `refresh-${n}` }),
      expiresAt: this.now() + this.lifetimeMs,
      tokenType: 'bearer',
    };
  }
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public time = 1_700_000_000_000) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}
