// Builds dist/cpi.js: ONE self-contained file for Node >= 20, plus optional companions: source maps
// (dist/cpi.js.map, dist/cpi-services.js.map) and a V8 code cache (dist/cpi-services.cache, ~30 ms less
// start-up for every call but `info`).
//
// `info` runs before nearly every CPI call and must start about as fast as bare `node`; compiling a 1 MB
// bundle costs ~40 ms. So the services (Garden client, tar, host code, winston, full zod) are bundled first
// and embedded in dist/cpi.js as brotli-compressed base64 text, decompressed and compiled with vm only when a
// call needs them (measured: a 65 KB outer bundle starts like bare node; a plain 1.3 MB string literal still
// cost ~15 ms to read and scan, and so did 1.5 MB of base64 once the services carried an inline map).
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { brotliCompressSync, constants } from 'node:zlib';
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

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning', plugins: [nodeFormData] };

const services = await build({
  ...common,
  entryPoints: ['src/wiring/services.ts'],
  format: 'iife',
  globalName: '__gardenCpiServices',
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable without the map.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'external',
  sourceRoot: '../',
  write: false,
  outfile: 'dist/cpi-services.js',
});
const servicesJs = services.outputFiles.find((file) => file.path.endsWith('.js')).text.replace(/\/\/# sourceMappingURL=.*\s*$/, '');
const servicesMap = services.outputFiles.find((file) => file.path.endsWith('.js.map'));
// The map stays a file beside the bundle (dist/cpi-services.js.map): inline it would triple the embedded
// text that every call, `info` included, has to scan. Node finds it with --enable-source-maps; the code
// is wrapped below so that it starts on line 2, which lineOffset -1 maps back to line 1.
await mkdir('dist', { recursive: true });
await writeFile('dist/cpi-services.js.map', servicesMap.text);
const servicesSource = `(function (require) {\n${servicesJs}\nreturn __gardenCpiServices;\n})\n//# sourceMappingURL=cpi-services.js.map\n`;
const servicesPayload = brotliCompressSync(Buffer.from(servicesSource), {
  params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 },
}).toString('base64');

// The wrapper puts the embedded code on line 2; lineOffset -1 keeps its stack traces and source map aligned.
const embeddedServices = {
  name: 'embedded-services',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/wiring\/services$/ }, () => ({ path: 'services', namespace: 'embedded' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'embedded' }, () => ({
      loader: 'js',
      contents: [
        "const { Script } = require('node:vm');",
        "const { join } = require('node:path');",
        "const { brotliDecompressSync } = require('node:zlib');",
        `const payload = ${JSON.stringify(servicesPayload)};`,
        "const source = brotliDecompressSync(Buffer.from(payload, 'base64')).toString('utf8');",
        "const { existsSync, readFileSync } = require('node:fs');",
        "const cachePath = join(__dirname, 'cpi-services.cache');",
        "const cachedData = existsSync(cachePath) ? readFileSync(cachePath) : undefined;",
        "const script = new Script(source, { filename: join(__dirname, 'cpi-services.js'), lineOffset: -1, cachedData });",
        "module.exports = script.runInThisContext()(require);",
      ].join('\n'),
    }));
  },
};

await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: 'dist/cpi.js',
  format: 'cjs',
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [nodeFormData, embeddedServices],
  banner: { js: '#!/usr/bin/env node' },
});

// V8's code cache for the embedded services, made after running their module initialisation once so it holds
// the functions start-up compiles. Optional: when missing or rejected (another Node/V8 build), V8 compiles.
const script = new Script(servicesSource, { filename: 'cpi-services.js', lineOffset: -1 });
script.runInThisContext()(createRequire(import.meta.url));
await writeFile('dist/cpi-services.cache', script.createCachedData());
