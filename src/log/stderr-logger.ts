import type { Logger } from './logger';
import { redact, redactString } from './redact';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const level = value?.toLowerCase();
  if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error') return level;
  if (level === 'warning') return 'warn';
  if (level === 'none' || level === 'fatal') return 'error';
  return undefined;
}

export interface LoggerOptions {
  level: LogLevel;
  requestId: string | undefined;
  /** A getter, so that a call that logs nothing never loads process.stderr. */
  stderr: () => NodeJS.WritableStream;
  /**
   * Gives the logger that writes the lines (winston, src/log/winston-logger.ts), asked for on the first line
   * actually written: src/rpc passes the one in the lazily loaded services.
   */
  backend: () => (options: LoggerOptions) => Logger;
}

/**
 * winston to stderr only, every line tagged with the request id, secrets redacted. winston is loaded on the
 * first line actually written, so a quiet `info` call never pays ~20 ms for it.
 */
export function createStderrLogger(options: LoggerOptions): Logger {
  let backend: Logger | undefined;
  const load = (): Logger => {
    backend = options.backend()(options);
    return backend;
  };
  const at =
    (level: LogLevel) =>
    (message: string, meta?: Record<string, unknown>): void => {
      if (RANK[level] < RANK[options.level]) return;
      const safeMeta = meta === undefined ? undefined : (redact(meta) as Record<string, unknown>);
      (backend ?? load())[level](redactString(message), safeMeta);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
