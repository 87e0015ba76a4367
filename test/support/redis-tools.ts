import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `redis-cli` (against `port` when given) and returns what it printed, trimmed. */
export async function redisCli(port: number | undefined, ...args: string[]): Promise<string> {
  const target = port === undefined ? [] : ['-p', String(port)];
  return (await run('redis-cli', [...target, ...args])).stdout.trim();
}
