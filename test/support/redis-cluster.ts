import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { killAll } from './kill-all.js';

const run = promisify(execFile);

/** Whether `port` can be bound on loopback right now. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port whose cluster-bus port (port + 10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || !(await isFree(port)) || !(await isFree(port + 10_000))) continue;
    taken.add(port);
    return port;
  }
}

/**
 * A real three-master Redis Cluster on loopback, for one test suite: three
 * `redis-server --cluster-enabled yes` processes joined by
 * `redis-cli --cluster create`.
 */
export class TestRedisCluster {
  private constructor(
    readonly ports: readonly number[],
    private readonly processes: readonly ChildProcess[],
  ) {}

  /** Starts the nodes, creates the cluster, and waits until every slot is served. */
  static async start(): Promise<TestRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'refreshkit-cluster-'));
    const taken = new Set<number>();
    const ports = [await clusterPort(taken), await clusterPort(taken), await clusterPort(taken)];
    const processes = ports.map((port) =>
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'].concat([
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ]),
        { stdio: 'ignore' },
      ),
    );
    const cluster = new TestRedisCluster(ports, processes);
    try {
      for (const port of ports)
        await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'ping'])).stdout.includes('PONG'));
      await run('redis-cli', [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      for (const port of ports) {
        await waitFor(async () =>
          (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'),
        );
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** A new ioredis Cluster client. */
  client(): Cluster {
    const client = new Cluster(this.ports.map((port) => ({ host: '127.0.0.1', port })));
    client.on('error', () => {});
    return client;
  }

  /** Stops every node. */
  stop(): Promise<void> {
    return killAll(this.processes);
  }
}

/** Polls `check` until it holds; throws, naming `what`, after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean>,
  what = 'Redis Cluster',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
