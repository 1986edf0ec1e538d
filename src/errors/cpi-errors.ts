/**
 * Typed CPI errors. Each carries the Bosh::Clouds type the Director knows and `ok_to_retry`;
 * only src/rpc turns them into the response shape. BoshError is the base of them all; the Director's
 * `Bosh::Clouds::CpiError` (the request itself is wrong) is InvalidRequest.
 */
export abstract class BoshError extends Error {
  abstract readonly boshType: string;
  readonly okToRetry: boolean;

  constructor(message: string, options: { okToRetry?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.okToRetry = options.okToRetry ?? false;
  }
}

export class CloudError extends BoshError {
  override readonly boshType: string = 'Bosh::Clouds::CloudError';
}
export class NotImplemented extends BoshError {
  override readonly boshType = 'Bosh::Clouds::NotImplemented';
}
export class NotSupported extends BoshError {
  override readonly boshType = 'Bosh::Clouds::NotSupported';
}
export class VMNotFound extends CloudError {
  override readonly boshType = 'Bosh::Clouds::VMNotFound';
}
export class DiskNotFound extends CloudError {
  override readonly boshType = 'Bosh::Clouds::DiskNotFound';
}
export class DiskNotAttached extends CloudError {
  override readonly boshType = 'Bosh::Clouds::DiskNotAttached';
}
export class NoDiskSpace extends CloudError {
  override readonly boshType = 'Bosh::Clouds::NoDiskSpace';
}
export class VMCreationFailed extends CloudError {
  override readonly boshType = 'Bosh::Clouds::VMCreationFailed';
}

/** Request-level problems (bad JSON, bad arguments, bad config), naming the field: `Bosh::Clouds::CpiError`. */
export class InvalidRequest extends BoshError {
  override readonly boshType = 'Bosh::Clouds::CpiError';
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** An adapter error that says a retry can succeed (`transient: true`: Garden unreachable or timed out). */
function isTransient(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { transient?: unknown }).transient === true;
}

/**
 * Wraps any thrown value with context, keeping a BoshError's type and ok_to_retry; anything else
 * (a TypeError, a Node system error) becomes a CloudError, with ok_to_retry when it is transient.
 */
export function wrapError(context: string, error: unknown): BoshError {
  if (error instanceof BoshError) {
    // The same error type with `context: ` in front of the message (each step adds its own).
    const Type = error.constructor as new (message: string, options: { okToRetry?: boolean; cause?: unknown }) => BoshError;
    return new Type(`${context}: ${error.message}`, { okToRetry: error.okToRetry, cause: error });
  }
  return new CloudError(`${context}: ${messageOf(error)}`, { cause: error, okToRetry: isTransient(error) });
}

/** Runs `step`, rethrowing its failure wrapped with `context`. */
export async function withContext<T>(context: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw wrapError(context, error);
  }
}
