import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import type { IoredisMajor } from './redis-clients.js';
import { killAll } from './kill-all.js';
import { redisCli } from './redis-tools.js';
import { waitFor } from './wait-for.js';

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
        await waitFor(async () => (await redisCli(port, 'ping')) === 'PONG', `Cluster node ${port}`);
      await redisCli(
        undefined,
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      );
      for (const port of ports) {
        await waitFor(
          async () => (await redisCli(port, 'cluster', 'info')).includes('cluster_state:ok'),
          'Redis Cluster',
        );
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** A new ioredis Cluster client (of the given major; ioredis 6 by default). */
  client(major?: IoredisMajor): Cluster | ReturnType<IoredisMajor['cluster']> {
    const nodes = this.ports.map((port) => ({ host: '127.0.0.1', port }));
    const client = major === undefined ? new Cluster(nodes) : major.cluster(nodes);
    client.on('error', () => {});
    return client;
  }

  /** Stops every node. */
  stop(): Promise<void> {
    return killAll(this.processes);
  }
}
