// Runs the one benchmark named by argv[2] and prints its result as JSON on
// the last line of stdout. `pnpm bench` starts a fresh process for each
// benchmark, so that none inherits another's modules, heap or JIT state.
import { registry } from './registry.js';

const entry = registry.find((candidate) => candidate.id === process.argv[2]);
if (entry === undefined) throw new Error(`no benchmark \`${process.argv[2]}\`; \`pnpm bench --list\` lists them`);
const result = await (await entry.load()).run();
process.stdout.write(`\n${JSON.stringify(result)}\n`);
// Benchmarks leave unref'd timers and pools behind; the result is out.
process.exit(0);
