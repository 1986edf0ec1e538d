// Builds dist/cpi.js: ONE self-contained file for Node >= 20 (+ dist/cpi.js.map).
//
// `info` runs before nearly every CPI call and must start about as fast as bare `node`; compiling a 1 MB
// bundle costs ~40 ms. So the services (Garden client, tar, host code, winston, full zod) are bundled first
// and embedded in dist/cpi.js as brotli-compressed base64 text, decompressed and compiled with vm only when a
// call needs them (measured: a 65 KB outer bundle starts like bare node; a plain 1.3 MB string literal still
// cost ~15 ms to read and scan). The embedded part carries its own inline source map.
import { brotliCompressSync, constants } from 'node:zlib';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };

const services = await build({
  ...common,
  entryPoints: ['src/wiring/services.ts'],
  format: 'iife',
  globalName: '__gardenCpiServices',
  sourcemap: 'inline',
  sourceRoot: '../',
  write: false,
  outfile: 'dist/cpi-services.js',
});
const servicesSource = `(function (require) {\n${services.outputFiles[0].text}\nreturn __gardenCpiServices;\n})`;
const servicesPayload = brotliCompressSync(Buffer.from(servicesSource), {
  params: { [constants.BROTLI_PARAM_QUALITY]: 9 },
}).toString('base64');

// The wrapper puts the embedded code on line 2; lineOffset -1 keeps its stack traces and source map aligned.
const embeddedServices = {
  name: 'embedded-services',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/wiring\/services$/ }, () => ({ path: 'services', namespace: 'embedded' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'embedded' }, () => ({
      loader: 'js',
      contents: [
        "const { runInThisContext } = require('node:vm');",
        "const { join } = require('node:path');",
        "const { brotliDecompressSync } = require('node:zlib');",
        `const payload = ${JSON.stringify(servicesPayload)};`,
        "const source = brotliDecompressSync(Buffer.from(payload, 'base64')).toString('utf8');",
        "module.exports = runInThisContext(source, { filename: join(__dirname, 'cpi-services.js'), lineOffset: -1 })(require);",
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
  plugins: [embeddedServices],
  banner: { js: '#!/usr/bin/env node' },
});
