import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs the benchmark child `script` (a .ts file beside this one) in a Node
 * process of its own, with `config` as JSON in argv[2], and resolves the JSON
 * it prints as the last line of its stdout.
 */
export function runChild<Report>(script: string, config: object): Promise<Report> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Report)
        : reject(new Error(`${script} exited with ${code}`)),
    );
  });
}
