import type { Writable } from 'node:stream';
import { readProcessStdin, writeProcessStdout } from './process-io';
import { InvalidRequest } from '../errors/cpi-errors';
import type { Logger } from '../log/logger';
import { printable } from '../log/printable';
import { createStderrLogger, parseLogLevel } from '../log/stderr-logger';
import { dispatch } from './dispatch';
import { loadMethods } from './load-methods';
import { loadConfig } from './load-config';
import { redact, redactArguments } from '../log/redact';
import { type CpiResponse, errorResponse, successResponse } from './response';
import { MAX_REQUEST_BYTES, type StdinContent } from './read-stdin';
import { type RequestEnvelope, parseRequest, requestIdOf } from './request-envelope';

export interface CpiProcessIo {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  readRequest: () => Promise<StdinContent>;
  writeResponse: (text: string) => Promise<void>;
  /** Called only when a line is logged. */
  stderr: () => Writable;
  /** Resolves once everything logged so far has left the process. */
  flushLogs: () => Promise<void>;
}

/** The real process: fd 0 and fd 1 read and written synchronously (see process-io.ts). */
export function processIo(): CpiProcessIo {
  let stderrUsed = false;
  return {
    argv: process.argv.slice(2),
    env: process.env,
    readRequest: () => readProcessStdin(() => process.stdin),
    writeResponse: async (text) => writeProcessStdout(text),
    // Lazy: touching process.stderr loads tty/net modules, so only a call that logs pays for it.
    stderr: () => {
      stderrUsed = true;
      return process.stderr;
    },
    flushLogs: () => (stderrUsed ? new Promise((resolve) => process.stderr.write('', () => resolve())) : Promise.resolve()),
  };
}

function summarise(result: unknown): string {
  if (result === null || result === undefined) return 'done';
  if (typeof result === 'string') return `'${result}'`;
  if (typeof result === 'boolean') return String(result);
  if (Array.isArray(result) && typeof result[0] === 'string') return `'${result[0]}'`;
  return 'ok';
}

/** winston, from the methods bundle (src/wiring/methods-entry.ts): loaded with the first line a call writes. */
const winston = () => loadMethods().createWinstonLogger;

/**
 * One CPI call: stdin -> request -> action -> exactly one JSON response on stdout. Never throws; every
 * failure, malformed input included, becomes an error response.
 */
export async function answerRequest(io: CpiProcessIo): Promise<CpiResponse> {
  const started = Date.now();
  const envLevel = parseLogLevel(io.env.BOSH_LOG_LEVEL);
  let logger: Logger = createStderrLogger({ level: envLevel ?? 'info', requestId: undefined, stderr: io.stderr, backend: winston });
  let request: RequestEnvelope | undefined;
  const elapsed = () => `${Date.now() - started} ms`;
  try {
    const input = await io.readRequest();
    if (input.kind === 'too_large') {
      throw new InvalidRequest(`Invalid request: ${input.bytes} bytes on stdin, more than the ${MAX_REQUEST_BYTES} byte limit`);
    }
    if (input.kind === 'not_utf8') throw new InvalidRequest('Invalid request: stdin is not valid UTF-8');
    request = parseRequest(input.text);
    const requestId = requestIdOf(request);
    logger = createStderrLogger({ level: envLevel ?? 'info', requestId, stderr: io.stderr, backend: winston });
    const config = loadConfig(io.argv);
    const level = envLevel ?? config.log_level ?? 'info';
    logger = createStderrLogger({ level, requestId, stderr: io.stderr, backend: winston });
    // Redacting walks the whole request: only pay for it when debug lines are written.
    if (level === 'debug') {
      logger.debug('Request', {
        method: request.method,
        arguments: redactArguments(request.method, request.arguments),
        api_version: request.api_version,
      });
    }
    const result = await dispatch(request, config, logger);
    if (level === 'debug') logger.debug('Response', { result: redact(result) });
    return successResponse(result, `${request.method}: ${summarise(result)} (${elapsed()})`);
  } catch (error) {
    const method = request?.method ?? 'request';
    const response = errorResponse(error, '');
    logger.error(`${printable(method, 100)} failed`, { error: response.error });
    if (!(error instanceof Error) || error.name === 'TypeError' || error.name === 'RangeError') {
      logger.debug('Unexpected error', { stack: error instanceof Error ? error.stack : String(error) });
    }
    return { ...response, log: `${printable(method, 100)}: failed with ${response.error?.type ?? 'error'} (${elapsed()})` };
  }
}

/** What `--help` (or `-h`) prints instead of answering a request. */
export const USAGE = `garden-cpi: the BOSH CPI for Garden (drop-in replacement for bosh-warden-cpi)

Usage: node cpi.js <path to cpi.json>          (or: -configPath=<path>, as upstream)

BOSH runs this once per cloud operation: one JSON request on stdin, e.g.
  {"method":"info","arguments":[],"context":{"director_uuid":"x"}}
and one JSON response on stdout: {"result":...,"error":null|{"type","message","ok_to_retry"},"log":"..."}.
Logs go to stderr (level: cpi.json's log_level, or BOSH_LOG_LEVEL=debug|info|warn|error).
cpi.json: snake_case (our job template) or upstream PascalCase; samples in examples/ of the repository.
`;

/** Writes the response; resolves once it is flushed (pipe writes through process.stdout would be async). */
export async function runCpi(io: CpiProcessIo): Promise<void> {
  // A person trying the binary by hand: say how it is used rather than wait for a request on stdin.
  if (io.argv.some((arg) => arg === '--help' || arg === '-h')) {
    await io.writeResponse(USAGE);
    return;
  }
  const response = await answerRequest(io);
  await io.writeResponse(JSON.stringify(response));
  await io.flushLogs();
}
