// Builds the CPI for Node >= 20 into dist/ (docs/start-up.md says why it is two files):
//   cpi.js           what every call runs: stdin/stdout, config, errors, `info`, the method dispatch (~60 KB);
//   cpi-methods.js   everything else (actions, Garden client, host code, winston, zod), loaded by
//                    src/rpc/load-methods.ts only when a call needs it, from its V8 code cache
//                    cpi-methods.cache (optional: without it, or from another Node build, V8 compiles);
//   *.map            source maps (`node --enable-source-maps dist/cpi.js`).
// The error classes exist once: cpi-methods.js takes them from cpi.js (SHARED below), so `instanceof` holds
// across the two files.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { build } from 'esbuild';

// axios requires the form-data package (with mime-types and its 137 KB mime-db), which every Garden call
// would load and evaluate; the CPI never sends a form. Node's own FormData (global since Node 18) stands in,
// and axios falls back to it anyway when form-data is missing.
const nodeFormData = {
  name: 'node-form-data',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^form-data$/ }, () => ({ path: 'form-data', namespace: 'node-form-data' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'node-form-data' }, () => ({ loader: 'js', contents: 'module.exports = globalThis.FormData;' }));
  },
};

/** Modules cpi-methods.js takes from cpi.js instead of carrying a copy: `garden-cpi:<name>` (see load-methods.ts). */
const SHARED = { 'errors/cpi-errors': /\/errors\/cpi-errors$/ };
const fromCpiJs = {
  name: 'shared-with-cpi-js',
  setup(pluginBuild) {
    for (const [name, filter] of Object.entries(SHARED)) {
      pluginBuild.onResolve({ filter }, () => ({ path: `garden-cpi:${name}`, external: true }));
    }
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable without the map.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
};

// A clean dist/: a file of an older layout must not ride along into the release.
await rm('dist', { recursive: true, force: true });

await build({
  ...common,
  entryPoints: ['src/wiring/methods-entry.ts'],
  outfile: 'dist/cpi-methods.js',
  plugins: [nodeFormData, fromCpiJs],
});

await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: 'dist/cpi.js',
  // The methods bundle is a file of its own, loaded at run time (src/rpc/load-methods.ts).
  external: ['../wiring/methods-entry'],
  banner: { js: '#!/usr/bin/env node' },
});

// V8's code cache for cpi-methods.js, made after running its module initialisation once so that it holds
// the functions start-up compiles. The source is wrapped exactly as src/rpc/load-methods.ts wraps it
// (SERVICES_WRAPPER there); a mismatch only makes V8 reject the cache (spec/rpc/start-up.spec.ts checks).
const wrapped = `(function (exports, require, module, __filename, __dirname) {${await readFile('dist/cpi-methods.js', 'utf8')}\n})`;
const script = new Script(wrapped, { filename: 'cpi-methods.js' });
const shared = {};
for (const name of Object.keys(SHARED)) {
  const bundled = await build({ ...common, sourcemap: false, entryPoints: [`src/${name}.ts`], write: false });
  const module = { exports: {} };
  new Script(`(function (exports, module) {${bundled.outputFiles[0].text}\n})`).runInThisContext()(module.exports, module);
  shared[`garden-cpi:${name}`] = module.exports;
}
const nodeRequire = createRequire(import.meta.url);
const module = { exports: {} };
script.runInThisContext()(module.exports, (id) => shared[id] ?? nodeRequire(id), module, 'cpi-methods.js', 'dist');
await writeFile('dist/cpi-methods.cache', script.createCachedData());
