import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  entry: {
    index: 'src/index.ts',
    'adapter/index': 'src/adapter/index.ts',
    'internal/index': 'src/internal/index.ts',
  },
  dts: true,
  sourcemap: true,
  target: 'node20',
  tsconfig: 'tsconfig.json',
};

// `pnpm build` empties dist first: two configs building at once must not clean each other's output.
// p-queue 9 is ESM-only. The ESM build imports it; the CommonJS build bundles
// it (with the two packages it imports), because a `require` of an ES module
// hands back a namespace that CommonJS interop cannot turn into the class,
// and TypeScript apps compiled under `module: node16` cannot require ESM.
export default defineConfig([
  { ...shared, format: 'esm' },
  { ...shared, format: 'cjs', noExternal: ['p-queue', 'p-timeout', 'eventemitter3'] },
]);
