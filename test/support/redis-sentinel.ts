import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { IoredisMajor } from './redis-clients.js';
import { freePort } from './redis-server.js';
import { killAll } from './kill-all.js';
import { redisCli as cli } from './redis-tools.js';
import { waitFor } from './wait-for.js';

/** The name the sentinel monitors the master under. */
export const MASTER_NAME = 'refreshkit';

/**
 * A real Sentinel deployment on loopback, for one test suite: a master, one
 * replica of it, and one `redis-server --sentinel` watching them with a
 * quorum of 1, so that `SENTINEL FAILOVER` promotes the replica.
 */
export class TestRedisSentinel {
  private constructor(
    readonly sentinelPort: number,
    readonly dataPorts: readonly number[],
    private readonly processes: readonly ChildProcess[],
  ) {}

  /** Starts master, replica and sentinel, and waits until the sentinel knows the replica. */
  static async start(): Promise<TestRedisSentinel> {
    const dir = mkdtempSync(join(tmpdir(), 'refreshkit-sentinel-'));
    const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const dataServer = (port: number, ...extra: string[]) =>
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...extra], {
        stdio: 'ignore',
      });
    // Sentinel rewrites its configuration file, so it gets one of its own.
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
      ].join('\n'),
    );
    const processes = [
      dataServer(masterPort),
      dataServer(replicaPort, '--replicaof', '127.0.0.1', String(masterPort)),
      spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' }),
    ];
    const deployment = new TestRedisSentinel(sentinelPort, [masterPort, replicaPort], processes);
    try {
      await waitFor(
        async () => (await cli(replicaPort, 'info', 'replication')).includes('master_link_status:up'),
        'Replica',
      );
      await waitFor(
        async () => (await cli(sentinelPort, 'sentinel', 'replicas', MASTER_NAME)).includes(String(replicaPort)),
        'Sentinel',
      );
    } catch (error) {
      await deployment.stop();
      throw error;
    }
    return deployment;
  }

  /** The port of the current master, as the sentinel reports it. */
  async masterPort(): Promise<number> {
    const [, port] = (await cli(this.sentinelPort, 'sentinel', 'get-master-addr-by-name', MASTER_NAME)).split('\n');
    return Number(port);
  }

  /** Waits until the replica has every write the master has (a failover would lose the rest). */
  async replicated(): Promise<void> {
    const offset = (port: number, field: string) =>
      cli(port, 'info', 'replication').then((info) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1]));
    // After a failover the two data nodes have swapped roles.
    const master = await this.masterPort();
    const replica = this.dataPorts.find((port) => port !== master);
    const target = await offset(master!, 'master_repl_offset');
    await waitFor(async () => (await offset(replica!, 'slave_repl_offset')) >= target, 'Replication');
  }

  /** Promotes the replica, and waits until the sentinel names it master and the old master serves as its replica. */
  async failover(): Promise<void> {
    const before = await this.masterPort();
    await cli(this.sentinelPort, 'sentinel', 'failover', MASTER_NAME);
    await waitFor(async () => (await this.masterPort()) !== before, 'Failover');
    const after = await this.masterPort();
    await waitFor(async () => (await cli(after, 'role')).startsWith('master'), 'New master');
    // Until the old master is a replica it still takes writes, which its
    // resync with the new master then discards (replication is asynchronous).
    await waitFor(async () => (await cli(before, 'role')).startsWith('slave'), 'Demotion of the old master');
  }

  /** A new Sentinel-backed ioredis client (of the given major; ioredis 6 by default). */
  client(major?: IoredisMajor): Redis | ReturnType<IoredisMajor['redis']> {
    const options = {
      sentinels: [{ host: '127.0.0.1', port: this.sentinelPort }],
      name: MASTER_NAME,
      // A demoted master answers writes with READONLY until the client moves on.
      reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    };
    const client = major === undefined ? new Redis(options) : major.redis(undefined, options);
    client.on('error', () => {});
    return client;
  }

  /** Stops every process. */
  stop(): Promise<void> {
    return killAll(this.processes);
  }
}
