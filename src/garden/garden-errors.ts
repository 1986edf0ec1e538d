import type { GardenErrorBody } from './garden-wire-schemas';

/**
 * Errors of the Garden client. They are adapter errors, not Bosh errors: callers decide what a
 * missing container means (VMNotFound, or fine during delete_vm) and wrapError turns the rest into
 * CloudError. Every message names the route and, when there is one, the handle.
 */
export interface GardenErrorDetails {
  /** "METHOD /path" as sent, e.g. "GET /containers/vm-1/info". */
  route: string;
  handle?: string;
  /** The body's `Type` ("" for a plain Go error); "" too for errors that never got a Garden body. */
  gardenType?: string;
  /** HTTP status, when a response arrived. */
  status?: number;
  processId?: string;
  cause?: unknown;
}

export class GardenError extends Error {
  readonly route: string;
  readonly handle: string | undefined;
  readonly gardenType: string;
  readonly status: number | undefined;
  readonly processId: string | undefined;

  constructor(detail: string, details: GardenErrorDetails) {
    const where = details.handle ? `${details.route} (handle '${details.handle}')` : details.route;
    super(`Garden ${where}: ${detail}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.route = details.route;
    this.handle = details.handle;
    this.gardenType = details.gardenType ?? '';
    this.status = details.status;
    this.processId = details.processId;
  }
}

/** `ContainerNotFoundError`: the only "no such container" answer (info, destroy, limits/cpu|memory). */
export class GardenContainerNotFound extends GardenError {}
/** `ProcessNotFoundError` (attach to an unknown process id). */
export class GardenProcessNotFound extends GardenError {}
/** `ExecutableNotFoundError` (run of a missing binary; no process was started). */
export class GardenExecutableNotFound extends GardenError {}
export class GardenServiceUnavailable extends GardenError {}
export class GardenUnrecoverable extends GardenError {}

/**
 * Garden could not be reached or dropped the connection (ECONNREFUSED, ENOENT for a unix socket,
 * ECONNRESET, EPIPE, a response cut short). For a mutating call the request may or may not have
 * taken effect; code 'ETIMEDOUT' when the request missed its deadline. create_vm maps this to
 * VMCreationFailed with ok_to_retry, other calls to CloudError with ok_to_retry.
 */
export class GardenUnreachable extends GardenError {
  readonly code: string;
  /** The same call can succeed later: wrapError answers CloudError with ok_to_retry. */
  readonly transient = true;

  constructor(detail: string, details: GardenErrorDetails & { code: string }) {
    super(detail, details);
    this.code = details.code;
  }
}

/** Garden answered something this client cannot read: a non-JSON error, a body failing its schema. */
export class GardenBadResponse extends GardenError {}

/** A process ended with an `error` frame instead of an exit status. */
export class GardenProcessError extends GardenError {}

/** Builds the typed error for a non-2xx response whose body parsed as a Garden error. */
export function errorFromBody(body: GardenErrorBody, route: string, status: number, handle?: string): GardenError {
  const details: GardenErrorDetails = {
    route,
    handle: body.Handle || handle,
    gardenType: body.Type,
    status,
    processId: body.ProcessID || undefined,
  };
  const detail = body.Message || `${body.Type || 'error'} (HTTP ${status})`;
  switch (body.Type) {
    case 'ContainerNotFoundError':
      return new GardenContainerNotFound(detail, details);
    case 'ProcessNotFoundError':
      return new GardenProcessNotFound(detail, details);
    case 'ExecutableNotFoundError':
      return new GardenExecutableNotFound(detail, details);
    case 'ServiceUnavailableError':
      return new GardenServiceUnavailable(detail, details);
    case 'UnrecoverableError':
      return new GardenUnrecoverable(detail, details);
    default:
      return new GardenError(detail, details);
  }
}

/** Node error codes that mean "Garden is not there / went away", as opposed to a Garden answer. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
