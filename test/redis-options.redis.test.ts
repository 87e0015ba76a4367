import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RedisTokenStore, type RedisTokenStoreOptions } from '@refreshkit/redis';
import type { ConstructReport } from './support/redis-construct-process.js';
import { TestRedis } from './support/redis-server.js';

const script = fileURLToPath(new URL('./support/redis-construct-process.ts', import.meta.url));
const KEY_MATERIAL = Buffer.alloc(32, 0xab).toString('base64'); // must never show in a message

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(() => redis.stop());

/**
 * Constructs a store in a child process, and resolves with its report once
 * the process has exited by itself. A socket or timer left open keeps it
 * alive: it is then killed after 20 s and the promise rejects.
 */
function constructInChild(options: Record<string, unknown>): Promise<ConstructReport> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', script, JSON.stringify({ options })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').pop()!) as ConstructReport);
      else reject(new Error(`the process did not exit by itself (${code ?? signal}): ${stderr.slice(-1000)}`));
    });
  });
}

const BAD_KEYS: [string, unknown, string][] = [
  [
    'an unset key',
    { id: 'k1', key: undefined },
    'Expected `encryptionKey.key` to be exactly 32 bytes, as a Uint8Array or a base64 string, got a value of type undefined',
  ],
  [
    'a key of the wrong length',
    { id: 'k1', key: { bytes: 16 } },
    'Expected `encryptionKey.key` to be exactly 32 bytes, as a Uint8Array or a base64 string, got 16 bytes',
  ],
  [
    'a base64 key of the wrong length',
    { id: 'k1', key: KEY_MATERIAL.slice(0, 24) },
    'Expected `encryptionKey.key` to be exactly 32 bytes, as a Uint8Array or a base64 string, got 18 bytes',
  ],
  [
    'a key that is not base64',
    { id: 'k1', key: `${KEY_MATERIAL.slice(0, 40)}!!!!` },
    'Expected `encryptionKey.key` to be exactly 32 bytes, as a Uint8Array or a base64 string, got a value of type string',
  ],
  [
    'a missing id',
    { key: KEY_MATERIAL },
    'Expected `encryptionKey.id` to be a non-empty string, got `undefined` (undefined)',
  ],
  [
    'an empty id',
    { id: '', key: KEY_MATERIAL },
    'Expected `encryptionKey.id` to be a non-empty string, got `` (string)',
  ],
  [
    'the key itself instead of { id, key }',
    KEY_MATERIAL,
    'Expected `encryptionKey` to be an object `{ id, key }`, got a value of type string',
  ],
  ['an empty list', [], 'Expected `encryptionKey` to hold at least one key, got an empty array'],
  [
    'a bad second key of a list',
    [
      { id: 'k2', key: KEY_MATERIAL },
      { id: 'k1', key: null },
    ],
    'Expected `encryptionKey[1].key` to be exactly 32 bytes, as a Uint8Array or a base64 string, got a value of type null',
  ],
  [
    'two keys with one id',
    [
      { id: 'k1', key: KEY_MATERIAL },
      { id: 'k1', key: KEY_MATERIAL },
    ],
    'Expected `encryptionKey[1].id` to be unique, got `k1` twice',
  ],
];

describe('RedisTokenStore options', () => {
  it.each(BAD_KEYS)(
    'rejects %s with a TypeError naming the option, opening no connection (the process exits by itself)',
    async (_name, encryptionKey, message) => {
      const report = await constructInChild({ redis: redis.url, encryptionKey });
      expect(report.error).toEqual({ name: 'TypeError', message });
      expect(report.error!.message).not.toContain(KEY_MATERIAL.slice(0, 16));
      expect(report.resources.filter((resource) => /TCP|Timeout|Immediate/.test(resource))).toEqual([]);
    },
  );

  it('opens its connection once every option is valid (the control for the checks above)', async () => {
    const report = await constructInChild({ redis: redis.url, encryptionKey: { id: 'k', key: KEY_MATERIAL } });
    expect(report.error).toBeUndefined();
    expect(report.resources.some((resource) => /TCP/.test(resource))).toBe(true);
  });

  it.each([
    [{ redis: 42 }, 'Expected `redis` to be an ioredis client or a redis:// or rediss:// URL, got `42` (number)'],
    [
      { redis: { host: '127.0.0.1', password: 'secret-password' } },
      'Expected `redis` to be an ioredis client or a redis:// or rediss:// URL, got `object` (object)',
    ],
    [
      { redis: 'http://user:secret-password@example.com' },
      'Expected `redis` to be an ioredis client or a redis:// or rediss:// URL, got another string',
    ],
    [
      { redis: 'redis://127.0.0.1:1', lockTtlMs: 5 },
      'Expected `lockTtlMs` to be an integer from 100 to 600000, got `5` (number)',
    ],
    [
      { redis: 'redis://127.0.0.1:1', operationTimeoutMs: 1.5 },
      'Expected `operationTimeoutMs` to be an integer from 50 to 60000, got `1.5` (number)',
    ],
    [{ redis: 'redis://127.0.0.1:1', prefix: 7 }, 'Expected `prefix` to be a string, got `7` (number)'],
    [
      { redis: 'redis://127.0.0.1:1', localMaxAgeMs: 10 },
      'Expected `localMaxAgeMs` to be an integer from 100 to 86400000, got `10` (number)',
    ],
    [
      { redis: 'redis://127.0.0.1:1', localMax: 0 },
      'Expected `localMax` to be an integer from 1 to 4294967296, got `0` (number)',
    ],
  ])('rejects %j with a TypeError saying how to fix it', (options, message) => {
    expect(() => new RedisTokenStore(options as unknown as RedisTokenStoreOptions)).toThrow(new TypeError(message));
  });

  it('takes a Uint8Array, a base64 or a base64url key', async () => {
    const bytes = new Uint8Array(32).fill(0xfb);
    for (const key of [bytes, Buffer.from(bytes).toString('base64'), Buffer.from(bytes).toString('base64url')]) {
      const store = new RedisTokenStore({ redis: redis.url, encryptionKey: { id: 'k', key } });
      await store.close();
    }
  });
});
