import { json, TokenServer } from './token-server.js';

/**
 * A token endpoint as strict as modern authorization servers: every refresh
 * token works once and is rotated; presenting a used one is reuse, which
 * revokes the whole grant (every later refresh of it fails with
 * `invalid_grant`). Counts refreshes per grant and reuses.
 */
export class RotatingTokenServer {
  /** Refreshes that succeeded, per grant. */
  readonly refreshesByGrant = new Map<string, number>();
  /** Refresh tokens presented a second time. */
  reuses = 0;
  /** When set, a refresh request is held (never answered) if this returns true. */
  hang: ((grant: string) => boolean) | undefined;
  readonly #current = new Map<string, string>();
  readonly #used = new Map<string, string>();
  readonly #revoked = new Set<string>();
  #serial = 0;

  private constructor(
    readonly server: TokenServer,
    private readonly lifetimeSeconds: number,
  ) {
    server.handler = (request, res) => {
      const token = String(request.params.refresh_token ?? '');
      const grant = this.#current.get(token) ?? this.#used.get(token);
      if (grant === undefined) return json(res, 400, { error: 'invalid_grant' });
      if (this.#used.has(token) || this.#revoked.has(grant)) {
        if (this.#used.has(token)) this.reuses++;
        this.#revoked.add(grant);
        return json(res, 400, { error: 'invalid_grant', error_description: 'refresh token reused' });
      }
      if (this.hang?.(grant)) return; // never answered; the token stays unused
      this.#current.delete(token);
      this.#used.set(token, grant);
      this.refreshesByGrant.set(grant, (this.refreshesByGrant.get(grant) ?? 0) + 1);
      json(res, 200, { ...this.issue(grant), token_type: 'Bearer' });
    };
  }

  /** Starts on a free loopback port; access tokens live `lifetimeSeconds`. */
  static async start(lifetimeSeconds: number): Promise<RotatingTokenServer> {
    return new RotatingTokenServer(await TokenServer.start(), lifetimeSeconds);
  }

  /** The token URL. */
  get tokenUrl(): string {
    return this.server.tokenUrl;
  }

  /** Issues a token set for `grant` (a new grant: a login). */
  issue(grant: string): { access_token: string; refresh_token: string; expires_in: number } {
    const serial = ++this.#serial;
    const refreshToken = `rt-${grant}-${serial}`;
    this.#current.set(refreshToken, grant);
    return { access_token: `at-${grant}-${serial}`, refresh_token: refreshToken, expires_in: this.lifetimeSeconds };
  }

  /** Whether the grant was revoked for reuse. */
  isRevoked(grant: string): boolean {
    return this.#revoked.has(grant);
  }

  /** Stops the server. */
  close(): Promise<void> {
    return this.server.close();
  }
}
