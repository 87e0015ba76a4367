// `pnpm bench` runs every benchmark and rewrites bench/RESULTS.md;
// `pnpm bench <id> [<id>…]` runs only those (ids are listed by `pnpm bench --list`).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchResult } from './harness.js';
import { registry, type RegistryEntry } from './registry.js';

const runOne = fileURLToPath(new URL('./run-one.ts', import.meta.url));

// Every benchmark process (and the processes they start) compiles with
// bench/tsconfig.json, which has no `paths`: @refreshkit/* are then the
// built packages, as users install them, not their sources through tsx.
process.env.TSX_TSCONFIG_PATH ??= fileURLToPath(new URL('./tsconfig.json', import.meta.url));

/** Runs a benchmark in a fresh process with this process's Node flags (tsx, --expose-gc). */
async function runInFreshProcess(id: string): Promise<BenchResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, runOne, id], {
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as BenchResult;
}

/** Runs `entry` in as many fresh processes as it asks for and reports the median. */
async function measure(entry: RegistryEntry): Promise<BenchResult> {
  const processes = entry.processes ?? 1;
  const results: BenchResult[] = [];
  for (let i = 0; i < processes; i++) results.push(await runInFreshProcess(entry.id));
  if (processes === 1) return results[0]!;
  const sorted = [...results].sort((a, b) => (a.ratio ?? 0) - (b.ratio ?? 0));
  const median = sorted[Math.floor(processes / 2)]!;
  const each = results.map((r) => r.ratio?.toFixed(2)).join(', ');
  return { ...median, notes: `Median of ${processes} fresh processes (their ratios: ${each}). ${median.notes ?? ''}` };
}

const wanted = process.argv.slice(2);
if (wanted.includes('--list')) {
  for (const entry of registry) console.log(entry.id);
  process.exit(0);
}
const unknown = wanted.filter((id) => !registry.some((entry) => entry.id === id));
if (unknown.length > 0)
  throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; \`pnpm bench --list\` lists them`);
const selected = wanted.length === 0 ? registry : registry.filter((entry) => wanted.includes(entry.id));
const results: BenchResult[] = [];
for (const entry of selected) {
  process.stdout.write(`running ${entry.id}… `);
  const result = await measure(entry);
  results.push(result);
  console.log(`${result.pass ? 'PASS' : 'MISS'}  ${result.figure}  (target ${result.target})`);
}

if (wanted.length === 0) {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const rows = results.map((r) => `| ${r.name} | ${r.target} | ${r.figure} | ${r.pass ? 'PASS' : 'MISS'} |`);
  const notes = results.filter((r) => r.notes).map((r) => `- **${r.name.split('.')[0]}.** ${r.notes}`);
  writeFileSync(
    new URL('./RESULTS.md', import.meta.url),
    [
      '# Benchmark results',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, every figure side by side in one run of \`pnpm bench\`, each benchmark in a fresh process, against the built packages (\`dist\`, as users install them).`,
      'Figures are ratios and counts; absolute times depend on the machine.',
      '',
      'Run one benchmark alone with `pnpm bench <id>`; `pnpm bench --list` lists the ids',
      `(${registry.map((entry) => `\`${entry.id}\``).join(', ')}). Only a full run rewrites this file.`,
      '',
      '| benchmark | target | measured | |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
      '## Notes',
      '',
      ...notes,
      '',
    ].join('\n'),
  );
  console.log('wrote bench/RESULTS.md');
}
// A MISS is a figure to report, not a failure: the benchmark itself ran.
process.exit(0);
