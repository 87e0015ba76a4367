import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the token server received, as raw as tests need it. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The body decoded from form or JSON encoding. */
  readonly params: Record<string, unknown>;
}

/** Answers one request: write the response, or destroy the socket. */
export type TokenHandler = (request: RecordedRequest, res: ServerResponse, index: number) => void | Promise<void>;

/** Sends a JSON answer. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A real HTTP token endpoint on 127.0.0.1 (port from `listen(0)`) that
 * records every request and answers through a swappable handler.
 */
export class TokenServer {
  readonly requests: RecordedRequest[] = [];
  handler: TokenHandler = (_request, res) => json(res, 500, { error: 'server_error' });
  readonly #server: Server;
  #url = '';

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const isJson = (req.headers['content-type'] ?? '').includes('json');
        const params = isJson
          ? (JSON.parse(body || '{}') as Record<string, unknown>)
          : Object.fromEntries(new URLSearchParams(body));
        const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, params };
        this.requests.push(recorded);
        void Promise.resolve(this.handler(recorded, res, this.requests.length - 1)).catch(() => res.destroy());
      });
    });
  }

  /** Starts a server on a free loopback port. */
  static async start(): Promise<TokenServer> {
    const server = new TokenServer();
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    const { port } = server.#server.address() as AddressInfo;
    server.#url = `http://127.0.0.1:${port}`;
    return server;
  }

  /** The token URL (`/token` on this server). */
  get tokenUrl(): string {
    return `${this.#url}/token`;
  }

  /** Stops accepting and closes every open connection. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
