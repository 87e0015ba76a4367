import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CacheProcessConfig, CacheProcessReport } from './cache-process.js';

const script = fileURLToPath(new URL('./cache-process.ts', import.meta.url));

/** A running child process: its report, and a promise that its callers have started. */
export interface CacheProcess {
  readonly child: ChildProcess;
  readonly calling: Promise<void>;
  readonly report: Promise<CacheProcessReport>;
}

/** Starts `cache-process.ts` (on the store `config.store` names) in a separate Node process. */
export function spawnCacheProcess(config: CacheProcessConfig): CacheProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let started: () => void = () => {};
  const calling = new Promise<void>((resolve) => (started = resolve));
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.includes('calling\n')) started();
  });
  const report = new Promise<CacheProcessReport>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      const line = stdout.trim().split('\n').pop();
      if (code === 0 && line) resolve(JSON.parse(line) as CacheProcessReport);
      else reject(new Error(`cache process exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
    });
  });
  return { child, calling, report };
}
