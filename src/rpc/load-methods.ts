import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import * as cpiErrors from '../errors/cpi-errors';
import type * as MethodsEntry from '../wiring/methods-entry';

export type MethodsModule = typeof MethodsEntry;

/** What cpi-methods.js takes from cpi.js rather than carrying its own copy (scripts/build.mjs, SHARED). */
const SHARED: Record<string, unknown> = { 'garden-cpi:errors/cpi-errors': cpiErrors };

let loaded: { methods: MethodsModule; cachedDataRejected: boolean } | undefined;

/**
 * Compiles dist/cpi-methods.js (beside dist/cpi.js) as Node compiles a CommonJS module, but with V8's
 * code cache dist/cpi-methods.cache when it is there: ~30% less CPU to load (docs/start-up.md). Node 20
 * has no compile cache of its own for require (module.enableCompileCache arrives in Node 22).
 */
export function loadBuiltMethods(dir: string): { methods: MethodsModule; cachedDataRejected: boolean } {
  const filename = join(dir, 'cpi-methods.js');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(join(dir, 'cpi-methods.cache'));
  } catch {
    cachedData = undefined; // optional: V8 compiles without it
  }
  // The same wrapper as scripts/build.mjs uses to make the cache.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(filename, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename, cachedData });
  const module = { exports: {} as MethodsModule };
  // Node's require for everything else (built-ins: the bundle holds all other code).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (id: string): unknown => (id in SHARED ? SHARED[id] : require(id));
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, load, module, filename, dir);
  return { methods: module.exports, cachedDataRejected: cachedData === undefined || script.cachedDataRejected === true };
}

/**
 * The methods bundle, loaded on first use so that `info` never compiles Garden, tar or host code. In
 * dist/cpi.js that is dist/cpi-methods.js; under tsx (unit tests) a plain require of the source.
 */
export function loadMethods(): MethodsModule {
  loaded ??= __filename.endsWith('.ts')
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, lazy by design
      { methods: require('../wiring/methods-entry') as MethodsModule, cachedDataRejected: false }
    : loadBuiltMethods(__dirname);
  return loaded.methods;
}

/** Whether V8 compiled cpi-methods.js without its code cache (missing, or from another Node build). */
export function methodsCacheRejected(): boolean {
  loadMethods();
  return loaded?.cachedDataRejected ?? false;
}
