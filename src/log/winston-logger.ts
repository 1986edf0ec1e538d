import type { Logger } from './logger';
import type { LoggerOptions } from './stderr-logger';
import { MAX_REQUEST_ID_LENGTH, printable } from './printable';

export function createWinstonLogger(options: LoggerOptions): Logger {
  // Required on first use: a call that logs nothing never initialises winston (~5 ms).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createLogger, format, transports } = require('winston') as typeof import('winston');
  const tag = options.requestId === undefined ? '' : ` [req_id ${printable(options.requestId, MAX_REQUEST_ID_LENGTH)}]`;
  const logger = createLogger({
    level: options.level,
    format: format.combine(
      format.timestamp(),
      format.printf(({ timestamp, level, message, ...meta }) => {
        const extra = Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
        // The message may carry request text (a method name): one line, whatever it holds.
        return `${String(timestamp)} ${level.toUpperCase()} garden-cpi${tag} ${printable(String(message))}${extra}`;
      }),
    ),
    // stdout carries exactly one JSON document, so every level goes to stderr.
    transports: [new transports.Stream({ stream: options.stderr() })],
  });
  return {
    debug: (message, meta) => void logger.debug(message, meta ?? {}),
    info: (message, meta) => void logger.info(message, meta ?? {}),
    warn: (message, meta) => void logger.warn(message, meta ?? {}),
    error: (message, meta) => void logger.error(message, meta ?? {}),
  };
}
