import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import * as cpiErrors from '../errors/cpi-errors';
import type * as Services from '../wiring/services';

export type ServicesModule = typeof Services;

/** What cpi-services.js takes from cpi.js rather than carrying its own copy (scripts/build.mjs, SHARED). */
const SHARED: Record<string, unknown> = { 'garden-cpi:errors/cpi-errors': cpiErrors };

let loaded: { services: ServicesModule; cachedDataRejected: boolean } | undefined;

/**
 * Compiles dist/cpi-services.js (beside dist/cpi.js) as Node compiles a CommonJS module, but with V8's
 * code cache dist/cpi-services.cache when it is there: ~30% less CPU to load (docs/start-up.md). Node 20
 * has no compile cache of its own for require (module.enableCompileCache arrives in Node 22).
 */
export function loadBuiltServices(dir: string): { services: ServicesModule; cachedDataRejected: boolean } {
  const filename = join(dir, 'cpi-services.js');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(join(dir, 'cpi-services.cache'));
  } catch {
    cachedData = undefined; // optional: V8 compiles without it
  }
  // The same wrapper as scripts/build.mjs uses to make the cache.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(filename, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename, cachedData });
  const module = { exports: {} as ServicesModule };
  // Node's require for everything else (built-ins: the bundle holds all other code).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (id: string): unknown => (id in SHARED ? SHARED[id] : require(id));
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, load, module, filename, dir);
  return { services: module.exports, cachedDataRejected: cachedData === undefined || script.cachedDataRejected === true };
}

/**
 * The CPI's services, loaded on first use so that `info` never compiles Garden, tar or host code. In
 * dist/cpi.js that is dist/cpi-services.js; under tsx (unit tests) a plain require of the source.
 */
export function loadServices(): ServicesModule {
  loaded ??= __filename.endsWith('.ts')
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, lazy by design
      { services: require('../wiring/services') as ServicesModule, cachedDataRejected: false }
    : loadBuiltServices(__dirname);
  return loaded.services;
}

/** Whether V8 compiled cpi-services.js without its code cache (missing, or from another Node build). */
export function servicesCacheRejected(): boolean {
  loadServices();
  return loaded?.cachedDataRejected ?? false;
}
