import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './redis-server.js';
import { waitFor } from './wait-for.js';

/** The directory of the newest installed PostgreSQL's binaries, else wherever `initdb` is on PATH. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  const found = execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim();
  if (found === '') throw new Error('PostgreSQL is not installed: no initdb (.ci/run installs it with apt-get)');
  return join(found, '..');
}

/**
 * A PostgreSQL server for one test suite: the one at `PG_URL` when that is
 * set, otherwise a private cluster in a temporary directory on a free
 * loopback port (never the machine's own server on 5432), with trust auth
 * and its unix socket inside the temporary directory. `initdb` refuses to run
 * as root, so as root the cluster belongs to the unprivileged `postgres`
 * user. Stopping and starting again keeps the data, as a real restart would.
 */
export class TestPostgres {
  readonly #dir: string | undefined;
  readonly #bin: string | undefined;
  #running = false;

  private constructor(
    readonly url: string,
    private readonly port: number | undefined,
  ) {
    if (port === undefined) return;
    this.#bin = binDir();
    this.#dir = mkdtempSync(join(tmpdir(), 'refreshkit-pg-'));
    if (process.getuid?.() === 0) chownSync(this.#dir, ...this.#postgresIds());
  }

  /** Starts (or adopts, with `PG_URL`) a server and waits until it answers. */
  static async start(): Promise<TestPostgres> {
    if (process.env.PG_URL) {
      const adopted = new TestPostgres(process.env.PG_URL, undefined);
      await adopted.#waitUntilReady();
      return adopted;
    }
    const port = await freePort();
    const server = new TestPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, port);
    server.#run('initdb', ['-D', server.#data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
    await server.restart();
    return server;
  }

  /** Whether this suite owns the server (and so may stop and restart it). */
  get owned(): boolean {
    return this.port !== undefined;
  }

  /** Starts the private server (again) on its port, with its data. */
  async restart(): Promise<void> {
    if (this.port === undefined) throw new Error('Cannot restart a server given by PG_URL');
    const options = `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    this.#run('pg_ctl', ['start', '-w', '-D', this.#data, '-l', join(this.#dir!, 'server.log'), '-o', options]);
    this.#running = true;
    await this.#waitUntilReady();
  }

  /** Stops the private server at once, dropping every connection (an outage). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#run('pg_ctl', ['stop', '-w', '-D', this.#data, '-m', 'immediate']);
  }

  /** Stops the private server and removes its directory. */
  async destroy(): Promise<void> {
    if (this.port === undefined) return;
    await this.stop();
    rmSync(this.#dir!, { recursive: true, force: true });
  }

  /** A new pool for this server; idle-client errors (a restart) are expected, not fatal. */
  pool(options: pg.PoolConfig = {}): pg.Pool {
    const pool = new pg.Pool({ connectionString: this.url, connectionTimeoutMillis: 2_000, ...options });
    pool.on('error', () => {});
    return pool;
  }

  get #data(): string {
    return join(this.#dir!, 'data');
  }

  #postgresIds(): [number, number] {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    return [uid, gid];
  }

  #run(tool: string, args: string[]): void {
    const path = join(this.#bin!, tool);
    const [command, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    execFileSync(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.#dir });
  }

  async #waitUntilReady(): Promise<void> {
    await waitFor(
      async () => {
        const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
        client.on('error', () => {});
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => {});
        }
      },
      `PostgreSQL at ${this.url}`,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }
}
