import type { CpiConfig } from '../config/cpi-config';
import type { Logger } from '../log/logger';
import type { CallContext } from '../actions/call-context';
import { info } from '../actions/info';
import { NotImplemented } from '../errors/cpi-errors';
import { loadMethods } from './load-methods';
import { type RequestEnvelope, requestIdOf } from './request-envelope';

const MAX_API_VERSION = 2;

/** Routes one request to its action. Only `info` is answered without loading the methods bundle (dist/cpi-methods.js). */
export async function dispatch(request: RequestEnvelope, config: CpiConfig, logger: Logger): Promise<unknown> {
  if (request.method === 'info') return info();
  // Loaded on demand, so `info` never compiles Garden, tar or host code (src/wiring/create-methods.ts).
  const handler = await loadMethods().loadMethod(request.method, config, logger);
  if (handler === undefined) throw new NotImplemented(`Method is not known, got '${request.method.slice(0, 100)}'`);
  const requested = request.api_version ?? undefined;
  if (handler.versioned === true && requested !== undefined && requested > MAX_API_VERSION) {
    throw new NotImplemented(`CPI API version requested is '${requested}', max supported is '${MAX_API_VERSION}'`);
  }
  // info ignores the version (bosh-cli always sends 1); others use v2 shapes unless asked for 1.
  const call: CallContext = { apiVersion: requested === 1 ? 1 : 2, requestId: requestIdOf(request), logger };
  return handler(request.arguments, call, request.method);
}
