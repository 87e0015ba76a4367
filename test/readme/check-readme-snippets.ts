// Compiles every TypeScript snippet of every README (the root's and each
// package's) under `strict`, against the built packages as users import
// them. A snippet marked `<!-- prelude: name -->` (on the line above its fence) gets that hidden prelude
// (preludes.ts) for what it takes from the text around it. Run after
// `pnpm build`; exits 1 and prints tsc's errors, mapped to README lines, if
// any snippet does not compile.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DEFAULT_PRELUDE, PRELUDES } from './preludes.js';

const root = join(import.meta.dirname, '..', '..');
// Inside the repository so that imports resolve through its node_modules.
const out = join(root, 'node_modules', '.cache', 'readme-snippets');

interface Snippet {
  readonly readme: string;
  /** 1-based line of the snippet's first code line in the README. */
  readonly line: number;
  readonly code: string;
  readonly prelude: string;
}

function snippetsOf(readme: string): Snippet[] {
  const lines = readFileSync(readme, 'utf8').split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    // Prettier puts a blank line between the marker and the fence.
    let above = i - 1;
    while (lines[above] === '') above--;
    const marker = /^<!-- prelude: ([\w-]+) -->$/.exec(lines[above] ?? '');
    const prelude = marker === null ? DEFAULT_PRELUDE : PRELUDES[marker[1]!];
    if (prelude === undefined) throw new Error(`${readme}:${i}: unknown prelude \`${marker![1]}\``);
    const end = lines.indexOf('```', i + 1);
    snippets.push({ readme, line: i + 2, code: lines.slice(i + 1, end).join('\n'), prelude });
    i = end;
  }
  return snippets;
}

const readmes = [join(root, 'README.md')].concat(
  readdirSync(join(root, 'packages'))
    .map((name) => join(root, 'packages', name, 'README.md'))
    .filter((path) => existsSync(path)),
);
const snippets = readmes.flatMap(snippetsOf);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = snippets.map((snippet, index) => {
  const file = `snippet-${index}.ts`;
  // The prelude goes last, so tsc's line numbers inside the snippet map
  // straight to README lines; `export {}` makes every snippet a module.
  writeFileSync(join(out, file), `${snippet.code}\nexport {};\n${snippet.prelude}`);
  return file;
});
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'es2022',
      lib: ['es2023', 'dom'],
      module: 'nodenext',
      strict: true,
      noEmit: true,
      esModuleInterop: true,
      skipLibCheck: true,
      types: ['node'],
    },
    files,
  }),
);

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', out], {
  encoding: 'utf8',
});
const report = tsc.stdout.replace(
  /\S*snippet-(\d+)\.ts\((\d+),(\d+)\)/g,
  (_match, index: string, line: string, column) => {
    const snippet = snippets[Number(index)]!;
    const inSnippet = Number(line) <= snippet.code.split('\n').length;
    const where = inSnippet ? snippet.line + Number(line) - 1 : `prelude of the snippet at line ${snippet.line}`;
    return `${relative(root, snippet.readme)}:${where}:${column}`;
  },
);
if (tsc.status !== 0) {
  console.error(report || tsc.stderr);
  console.error(`README snippets do not compile (${snippets.length} checked)`);
  process.exit(1);
}
console.log(`${snippets.length} README snippets compile under strict`);
