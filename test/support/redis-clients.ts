// Each ioredis major the Redis suites run against: 6 (the current one) and 5
// (installed under the alias `ioredis5`), both through their own types, so a
// client of either must type-check where `RedisTokenStore` takes one.
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis';
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5';

/** Options both majors accept, as the suites use them. */
export interface ClientOptions {
  readonly maxRetriesPerRequest?: number;
  readonly sentinels?: { host: string; port: number }[];
  readonly name?: string;
  readonly reconnectOnError?: (error: Error) => boolean;
}

/** One ioredis major: how to make each kind of client. */
export interface IoredisMajor {
  readonly name: string;
  /** The package to import in a child process. */
  readonly module: 'ioredis' | 'ioredis5';
  /** A single-node client for `url`, or with `sentinels` (and no url) a Sentinel-backed one. */
  redis(url: string | undefined, options?: ClientOptions): Redis5 | Redis6;
  /** A Cluster client. */
  cluster(nodes: { host: string; port: number }[]): Cluster5 | Cluster6;
}

export const IOREDIS_MAJORS: readonly IoredisMajor[] = [
  {
    name: 'ioredis 6',
    module: 'ioredis',
    redis: (url, options = {}) => (url === undefined ? new Redis6(options) : new Redis6(url, options)),
    cluster: (nodes) => new Cluster6(nodes),
  },
  {
    name: 'ioredis 5',
    module: 'ioredis5',
    redis: (url, options = {}) => (url === undefined ? new Redis5(options) : new Redis5(url, options)),
    cluster: (nodes) => new Cluster5(nodes),
  },
];
