/**
 * The entry point of the methods bundle, dist/cpi-methods.js: everything `info` does not need. src/rpc/load-methods.ts
 * loads it only when a call needs it, keeping `info` close to bare `node` start-up (docs/start-up.md).
 */
export { loadMethod } from './create-methods';
export { createWinstonLogger } from '../log/winston-logger';
