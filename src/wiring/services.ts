/**
 * Everything `info` does not need, behind one module: the build embeds it in dist/cpi.js as source that is
 * compiled only when a call needs it (see scripts/build.mjs), keeping `info` close to bare `node` start-up.
 */
export { loadMethod } from './create-methods';
export { createWinstonLogger } from '../log/winston-logger';
