import { goJsonLine } from './go-json';

/** An error the emulator answers with gdn's five-key JSON body (G `server/request_handling.go` writeError). */
export class GardenApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly handle = '',
    readonly processId = '',
  ) {
    super(message);
    this.name = 'GardenApiError';
  }

  body(): string {
    return goJsonLine({ Type: this.type, Message: this.message, Handle: this.handle, ProcessID: this.processId, Binary: '' });
  }
}

/** Any Go error that is not one of Garden's typed errors: 500, `Type` empty. */
export function serverError(message: string): GardenApiError {
  return new GardenApiError(500, '', message);
}

export function containerNotFound(handle: string): GardenApiError {
  return new GardenApiError(404, 'ContainerNotFoundError', `unknown handle: ${handle}`, handle);
}

export function processNotFound(processId: string): GardenApiError {
  return new GardenApiError(404, 'ProcessNotFoundError', `unknown process: ${processId}`, '', processId);
}

export function executableNotFound(message: string): GardenApiError {
  return new GardenApiError(500, 'ExecutableNotFoundError', message);
}
