import { CloudError, VMCreationFailed, wrapError, type BoshError } from '../errors/cpi-errors';
import { GardenServiceUnavailable, GardenUnreachable, GardenError } from '../garden/garden-client';

/** Garden was away or momentarily overloaded: the same create_vm can succeed when retried. */
export function isTransientGardenFailure(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof GardenUnreachable || current instanceof GardenServiceUnavailable) return true;
    if (current instanceof GardenError && current.status !== undefined && [502, 503, 504].includes(current.status)) return true;
  }
  return false;
}

/**
 * create_vm's answer after rollback: VMCreationFailed with ok_to_retry (the Director retries it) when
 * Garden was unreachable or transiently failing, else a CloudError carrying the step's context.
 */
export function creationFailure(context: string, error: unknown): BoshError {
  const wrapped = wrapError(context, error);
  if (isTransientGardenFailure(error)) return new VMCreationFailed(wrapped.message, { okToRetry: true, cause: error });
  return wrapped instanceof CloudError ? wrapped : new CloudError(wrapped.message, { cause: error });
}
