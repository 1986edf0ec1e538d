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
// would load and evaluate; the CPI never sends a form, so a class that says so stands in.
const noFormData = {
  name: 'no-form-data',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^form-data$/ }, () => ({ path: 'form-data', namespace: 'no-form-data' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'no-form-data' }, () => ({
      loader: 'js',
      contents:
        "module.exports = class FormData { constructor() { throw new Error('garden-cpi never sends a form: form-data is not in the build'); } };",
    }));
  },
};

// Node built-ins that axios and its helpers (follow-redirects, https-proxy-agent) require when they load but
// that a CPI call talking plain HTTP to Garden never uses: http2 (which loads tls), https and tls cost a
// Garden call ~10 ms of CPU to compile (docs/start-up.md). For those importers they become a stand-in that
// requires the real module on first use of any of its properties. (zlib is not among them: axios reads its
// constants while it loads.)
const LAZY_BUILTINS = /^(node:)?(http2|https|tls)$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: LAZY_BUILTINS }, (args) =>
      /[\\/]node_modules[\\/]/.test(args.importer) ? { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: [
        'let real;',
        `const load = () => (real ??= require('node:${args.path}'));`,
        'module.exports = new Proxy({}, {',
        // Interop helpers probe `__esModule` and `default` when the importer loads; a built-in has neither.
        "  get: (_target, key) => (key === '__esModule' || key === 'default' ? undefined : load()[key]),",
        "  has: (_target, key) => key !== '__esModule' && key !== 'default' && key in load(),",
        '  ownKeys: () => Reflect.ownKeys(load()),',
        '  getOwnPropertyDescriptor: (_target, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),',
        '});',
      ].join('\n'),
    }));
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
  plugins: [noFormData, lazyBuiltins, fromCpiJs],
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
