import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the API server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A protected upstream API on 127.0.0.1: `isValid(token)` decides whether a
 * bearer is accepted. Routes:
 * - `/me`: 200 `{ token }` with a valid bearer, else 401 with `WWW-Authenticate`;
 * - `/redirect?to=URL&status=302`: a redirect to URL;
 * - `/echo`: 200 with the request body, if the bearer is valid.
 * Every request is recorded, so tests can assert what each server received.
 */
export class ApiServer {
  readonly seen: SeenRequest[] = [];
  isValid: (token: string) => boolean = () => true;
  readonly #server: Server;
  #origin = '';

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.#origin);
        const body = Buffer.concat(chunks).toString('utf8');
        this.seen.push({
          method: req.method ?? '',
          path: url.pathname,
          authorization: req.headers.authorization,
          headers: req.headers,
          body,
        });
        if (url.pathname === '/redirect') {
          res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/' });
          return res.end();
        }
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (token === undefined || !this.isValid(token)) {
          res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
          return res.end();
        }
        // Written in mixed case, as many servers do: a client that passes raw headers on keeps it.
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(url.pathname === '/echo' ? { body } : { token }));
      });
    });
  }

  /** Starts on a free loopback port. */
  static async start(): Promise<ApiServer> {
    const server = new ApiServer();
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#origin = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  /** `http://127.0.0.1:PORT`. */
  get origin(): string {
    return this.#origin;
  }

  /** Closes the server and its connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
