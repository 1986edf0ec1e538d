import type * as Services from '../wiring/services';

export type ServicesModule = typeof Services;

/**
 * Loads the CPI's services on demand. In dist/cpi.js the build replaces '../wiring/services' with the
 * embedded, lazily compiled services bundle; under tsx (unit tests) it is a plain require.
 */
export function loadServices(): ServicesModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, lazy by design
  return require('../wiring/services') as ServicesModule;
}
