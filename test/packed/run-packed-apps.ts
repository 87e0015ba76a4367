// Tests what users install: packs every package, installs the tarballs with
// npm into a throwaway app (as a user outside this monorepo would), and runs
// the scenario in every module mode an app uses: plain CommonJS and ESM, and
// TypeScript (strict) compiled under node16, nodenext, commonjs and bundler
// resolution. Run after `pnpm build`; prints one line per mode and exits 1 if
// any mode fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestRedis } from '../support/redis-server.js';

const here = import.meta.dirname;
const root = join(here, '..', '..');

/** The dependencies a user of the README's quick starts installs beside ours. */
const APP_DEPENDENCIES = {
  express: '^5.1.0',
  koa: '^3.0.0',
  fastify: '^5.0.0',
  hono: '^4.0.0',
  ioredis: 'latest',
  pg: '^8.0.0',
  '@opentelemetry/api': '^1.7.0',
  undici: '^7.0.0',
  axios: '^1.7.0',
  got: '^14.0.0',
  '@types/express': '^5.0.0',
  '@types/koa': '^3.0.0',
  '@types/node': '^20.19.0',
  typescript: '5.9.3',
};

interface Mode {
  /** How the row is named in the output. */
  readonly name: string;
  /** `type` of the app's package.json. */
  readonly type: 'commonjs' | 'module';
  /** compilerOptions beyond the strict base, or undefined for plain JavaScript. */
  readonly compilerOptions?: Readonly<Record<string, string>>;
  /** For plain JavaScript: the scenario file to run. */
  readonly script?: string;
}

const MODES: readonly Mode[] = [
  { name: 'CommonJS require()', type: 'commonjs', script: 'scenario.cjs' },
  { name: 'ESM import', type: 'module', script: 'scenario.mjs' },
  { name: 'TS module node16, CommonJS', type: 'commonjs', compilerOptions: { module: 'node16' } },
  { name: 'TS module node16, ESM', type: 'module', compilerOptions: { module: 'node16' } },
  { name: 'TS module nodenext, CommonJS', type: 'commonjs', compilerOptions: { module: 'nodenext' } },
  { name: 'TS module nodenext, ESM', type: 'module', compilerOptions: { module: 'nodenext' } },
  {
    name: 'TS module commonjs (node10 resolution)',
    type: 'commonjs',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10' },
  },
  {
    name: 'TS module esnext, bundler resolution',
    type: 'module',
    compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
  },
];

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function packAll(into: string): Record<string, string> {
  const tarballs: Record<string, string> = {};
  for (const name of readdirSync(join(root, 'packages'))) {
    const before = new Set(readdirSync(into));
    run('pnpm', ['pack', '--pack-destination', into], join(root, 'packages', name));
    const tarball = readdirSync(into).find((file) => !before.has(file))!;
    tarballs[`@refreshkit/${name}`] = `file:${join(into, tarball)}`;
  }
  return tarballs;
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Builds and runs one mode; returns what the scenario printed. */
function runMode(app: string, mode: Mode, env: NodeJS.ProcessEnv): { ok: boolean; output: string } {
  const dir = join(app, mode.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
  mkdirSync(dir);
  writeJson(join(dir, 'package.json'), { private: true, type: mode.type });
  let entry: string;
  if (mode.script !== undefined) {
    copyFileSync(join(here, mode.script), join(dir, mode.script));
    copyFileSync(join(here, 'run-js-scenario.cjs'), join(dir, 'run-js-scenario.cjs'));
    entry = mode.script;
  } else {
    copyFileSync(join(here, 'scenario.ts'), join(dir, 'scenario.ts'));
    writeJson(join(dir, 'tsconfig.json'), {
      compilerOptions: {
        target: 'es2022',
        lib: ['es2023', 'dom'],
        strict: true,
        esModuleInterop: true,
        // @types/koa 3 does not type-check against the content-disposition it installs.
        skipLibCheck: true,
        types: ['node'],
        outDir: 'out',
        ...mode.compilerOptions,
      },
      files: ['scenario.ts'],
    });
    const compiled = spawnSync(join(app, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: dir, encoding: 'utf8' });
    if (compiled.status !== 0) return { ok: false, output: `tsc: ${compiled.stdout}${compiled.stderr}` };
    entry = join('out', 'scenario.js');
  }
  const ran = spawnSync(process.execPath, [entry], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  return { ok: ran.status === 0, output: `${ran.stdout}${ran.stderr}`.trim() };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'refreshkit-packed-'));
  const app = join(work, 'app');
  mkdirSync(app);
  const redis = await TestRedis.start();
  try {
    const tarballs = packAll(work);
    writeJson(join(app, 'package.json'), {
      private: true,
      dependencies: { ...tarballs, ...APP_DEPENDENCIES },
    });
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
    // NODE_ENV=test: Express's final handler then answers errors without logging their stacks.
    const env = { ...process.env, REDIS_URL: redis.url, NODE_ENV: 'test' };
    let failed = 0;
    for (const mode of MODES) {
      const { ok, output } = runMode(app, mode, env);
      if (!ok) failed++;
      console.log(`${ok ? 'PASS' : 'FAIL'}  ${mode.name}: ${ok ? output : `\n${output}\n`}`);
    }
    if (failed > 0) {
      console.error(`${failed} of ${MODES.length} packed-package modes failed`);
      process.exitCode = 1;
    } else {
      console.log(`all ${MODES.length} packed-package modes passed`);
    }
  } finally {
    if (redis.owned) await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
