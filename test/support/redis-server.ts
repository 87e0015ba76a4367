import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { killAll } from './kill-all.js';
import { waitFor } from './wait-for.js';

/** A free TCP port on loopback, found by listening on port 0. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something listens at the host and port of `url`. */
function acceptsConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || 6379), hostname.replace(/^\[(.*)\]$/, '$1'));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A `redis-server` for one test suite: the one at `REDIS_URL` when that is
 * set, otherwise a private server on a free loopback port. A private server
 * keeps an append-only file in a temporary directory, so it can be killed
 * and restarted on the same port with its data, as a real Redis restart
 * would.
 */
export class TestRedis {
  #process: ChildProcess | undefined;
  readonly #dir = mkdtempSync(join(tmpdir(), 'refreshkit-redis-'));

  private constructor(
    readonly url: string,
    private readonly port: number | undefined,
  ) {}

  /** Starts (or adopts, with `REDIS_URL`) a server and waits until it answers. */
  static async start(): Promise<TestRedis> {
    if (process.env.REDIS_URL) {
      const adopted = new TestRedis(process.env.REDIS_URL, undefined);
      await adopted.#waitUntilReady();
      return adopted;
    }
    const port = await freePort();
    const server = new TestRedis(`redis://127.0.0.1:${port}`, port);
    await server.restart();
    return server;
  }

  /** Whether this suite owns the server (and so may stop it). */
  get owned(): boolean {
    return this.port !== undefined;
  }

  /** Starts the private server again on its port. */
  async restart(): Promise<void> {
    if (this.port === undefined) throw new Error('Cannot restart a server given by REDIS_URL');
    this.#process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.#dir].concat([
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ]),
      { stdio: 'ignore' },
    );
    await this.#waitUntilReady();
  }

  /** Stops the private server (an outage). */
  async stop(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (child !== undefined) await killAll([child]);
  }

  /** Freezes the private server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  /** Lets a paused server run again (SIGCONT). */
  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  /** A new client for this server. */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    return client;
  }

  async #waitUntilReady(): Promise<void> {
    // Knock on the port first: an ioredis client that never connected leaves
    // a 2 s timer behind when disconnected, which holds Jest open.
    await waitFor(
      async () => (await acceptsConnections(this.url)) && (await this.#answersPing()),
      `redis-server at ${this.url}`,
      {
        timeoutMs: 10_000,
        intervalMs: 50,
      },
    );
  }

  async #answersPing(): Promise<boolean> {
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } finally {
      probe.disconnect();
    }
  }
}
