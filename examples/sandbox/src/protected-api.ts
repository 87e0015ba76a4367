import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthorizationServer } from './authorization-server.js';

/** Options of {@link ProtectedApi.start}. */
export interface ProtectedApiOptions {
  /**
   * How long a positive introspection result is trusted, in ms. 0 checks
   * every request (so a revocation is noticed at once).
   * @default 0
   */
  readonly introspectionCacheMs?: number;
}

/**
 * A resource server on a free loopback port that accepts a bearer only if
 * the authorization server's introspection says it is active. `GET /me`
 * answers `{ sub, clientId }`; anything without a valid bearer gets 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"`.
 */
export class ProtectedApi {
  /** Requests answered, by status. */
  readonly statuses: Map<number, number>;
  readonly #server: Server;
  readonly #origin: string;

  private constructor(server: Server, origin: string, statuses: Map<number, number>) {
    this.#server = server;
    this.#origin = origin;
    this.statuses = statuses;
  }

  /** `http://127.0.0.1:PORT`. */
  get origin(): string {
    return this.#origin;
  }

  /** Requests answered with `status`. */
  count(status: number): number {
    return this.statuses.get(status) ?? 0;
  }

  /** Starts the API, checking tokens against `authorizationServer`. */
  static async start(
    authorizationServer: AuthorizationServer,
    options: ProtectedApiOptions = {},
  ): Promise<ProtectedApi> {
    const cacheMs = options.introspectionCacheMs ?? 0;
    const trusted = new Map<string, { until: number; sub: string | undefined; clientId: string | undefined }>();
    const statuses = new Map<number, number>();
    const server = createServer((req, res) => {
      const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const unauthorized = () =>
        answer(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      if (token === undefined) return unauthorized();
      const now = Date.now();
      const cached = trusted.get(token);
      if (cached !== undefined && now < cached.until)
        return answer(200, { sub: cached.sub, clientId: cached.clientId });
      authorizationServer.introspect(token).then(
        (result) => {
          if (!result.active) return unauthorized();
          const entry = { sub: (result as { sub?: string }).sub, clientId: result.client_id };
          if (cacheMs > 0) trusted.set(token, { ...entry, until: Math.min(now + cacheMs, (result.exp ?? 0) * 1000) });
          answer(200, entry);
        },
        () => answer(503, { error: 'introspection_failed' }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new ProtectedApi(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, statuses);
  }

  /** Stops the API and closes its connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
