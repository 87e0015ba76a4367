// `pnpm bench` runs every benchmark and rewrites bench/RESULTS.md;
// `pnpm bench <id> [<id>…]` runs only those (ids are listed by `pnpm bench --list`).
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { coalescing } from './coalescing.js';
import type { Benchmark, BenchResult } from './harness.js';
import { heapPerKey } from './heap-per-key.js';
import { hitPath } from './hit-path.js';
import { massExpiry } from './mass-expiry.js';
import { middlewareThroughput } from './middleware-throughput.js';
import { redisCoalescing } from './redis-coalescing.js';
import { steadyLoad } from './steady-load.js';

const benchmarks: Benchmark[] = [
  hitPath,
  coalescing,
  redisCoalescing,
  steadyLoad,
  middlewareThroughput,
  massExpiry,
  heapPerKey,
];

const wanted = process.argv.slice(2);
if (wanted.includes('--list')) {
  for (const b of benchmarks) console.log(b.id);
  process.exit(0);
}
const selected = wanted.length === 0 ? benchmarks : benchmarks.filter((b) => wanted.includes(b.id));
const results: BenchResult[] = [];
for (const benchmark of selected) {
  process.stdout.write(`running ${benchmark.id}… `);
  const result = await benchmark.run();
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
      `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, every figure side by side in one run of \`pnpm bench\`.`,
      'Figures are ratios and counts; absolute times depend on the machine.',
      '',
      'Run one benchmark alone with `pnpm bench <id>`; `pnpm bench --list` lists the ids',
      `(${benchmarks.map((b) => `\`${b.id}\``).join(', ')}). Only a full run rewrites this file.`,
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
