import { BoshError } from '../errors/cpi-errors';

/** The one shape the Director and bosh-cli accept: all three keys, `log` a string, `ok_to_retry` a boolean. */
export interface CpiResponse {
  result: unknown;
  error: { type: string; message: string; ok_to_retry: boolean } | null;
  log: string;
}

export function successResponse(result: unknown, log: string): CpiResponse {
  return { result: result === undefined ? null : result, error: null, log };
}

/** Task logs and the Director's error text stay readable even when a hostile request echoes huge input. */
export const MAX_MESSAGE_LENGTH = 1024;

function capped(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH
    ? message
    : `${message.slice(0, MAX_MESSAGE_LENGTH)}… (${message.length - MAX_MESSAGE_LENGTH} more characters)`;
}

/** The single place where errors become `Bosh::Clouds::*`: anything untyped is a CloudError. */
export function errorResponse(error: unknown, log: string): CpiResponse {
  if (error instanceof BoshError) {
    return { result: null, error: { type: error.boshType, message: capped(error.message), ok_to_retry: error.okToRetry }, log };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : `Unexpected error: ${String(error)}`;
  return { result: null, error: { type: 'Bosh::Clouds::CloudError', message: capped(message), ok_to_retry: false }, log };
}
