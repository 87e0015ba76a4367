// Packs every publishable package and checks it the way a consumer would
// see it: publint for package.json correctness, @arethetypeswrong/cli for
// types under both `import` and `require`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const packed = mkdtempSync(join(tmpdir(), 'refreshkit-pack-'));
for (const name of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', name);
  execFileSync('pnpm', ['pack', '--pack-destination', packed], { cwd: dir, stdio: 'ignore' });
  execFileSync('publint', ['--strict'], { cwd: dir, stdio: 'inherit' });
}
for (const tarball of readdirSync(packed)) {
  execFileSync('attw', [join(packed, tarball), '--profile', 'node16'], { stdio: 'inherit' });
}
console.log(`checked ${readdirSync(packed).length} packed packages`);
