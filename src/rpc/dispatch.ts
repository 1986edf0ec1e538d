import type { CpiConfig } from '../config/cpi-config';
import type { Logger } from '../log/logger';
import type { CallContext } from '../actions/call-context';
import { info } from '../actions/info';
import { InvalidRequest, NotImplemented } from '../errors/cpi-errors';
import { isMethodName } from './method-names';
import { loadServices } from './load-services';
import { type RequestEnvelope, requestIdOf } from './request-envelope';

/** Methods whose result shape differs between API v1 and v2 (docs/cpi-contract.md). */
const VERSIONED_METHODS = new Set(['create_vm', 'attach_disk']);
const MAX_API_VERSION = 2;

function apiVersionFor(request: RequestEnvelope): 1 | 2 {
  const requested = request.api_version ?? undefined;
  if (requested !== undefined && requested > MAX_API_VERSION && VERSIONED_METHODS.has(request.method)) {
    throw new NotImplemented(`CPI API version requested is '${requested}', max supported is '${MAX_API_VERSION}'`);
  }
  // info ignores the version (bosh-cli always sends 1); others use v2 shapes unless asked for 1.
  return requested === 1 ? 1 : 2;
}

/** Routes one request to its action. Only `info` is answered without loading the CPI's services. */
export async function dispatch(request: RequestEnvelope, config: CpiConfig, logger: Logger): Promise<unknown> {
  if (!isMethodName(request.method)) {
    throw new NotImplemented(`Method is not known, got '${request.method.slice(0, 100)}'`);
  }
  if (request.method === 'info') return info();
  const call: CallContext = {
    apiVersion: apiVersionFor(request),
    requestId: requestIdOf(request),
    logger,
  };
  // Loaded on demand, so `info` never compiles Garden, tar or host code.
  const handler = loadServices().createMethods(config, logger)[request.method];
  if (handler === undefined) throw new InvalidRequest(`No handler for '${request.method}'`);
  return handler(request.arguments, call);
}
