import { readSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { MAX_REQUEST_BYTES, type StdinContent, decodeUtf8, readStdin } from './read-stdin';

const STDIN_FD = 0;
const STDOUT_FD = 1;

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/**
 * Reads fd 0 to EOF synchronously. `process.stdin` costs ~10 ms of module loading (net, stream) that
 * `info` cannot afford; the Director and bosh-cli hand us a blocking pipe, which reads fine this way.
 * A non-blocking stdin (EAGAIN) falls back to the stream reader for the rest.
 */
export async function readProcessStdin(fallback: () => Readable): Promise<StdinContent> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const buffer = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let read: number;
    try {
      read = readSync(STDIN_FD, buffer, 0, buffer.length, null);
    } catch (error) {
      if (isErrno(error, 'EAGAIN')) {
        const rest = await readStdin(fallback(), Math.max(0, MAX_REQUEST_BYTES - bytes));
        if (rest.kind === 'too_large') return { kind: 'too_large', bytes: bytes + rest.bytes };
        if (rest.kind === 'not_utf8') return rest;
        return decodeUtf8(Buffer.concat([...chunks, Buffer.from(rest.text)]));
      }
      if (isErrno(error, 'EOF')) break;
      throw error;
    }
    if (read === 0) break;
    bytes += read;
    if (bytes <= MAX_REQUEST_BYTES) chunks.push(Buffer.from(buffer.subarray(0, read)));
  }
  if (bytes > MAX_REQUEST_BYTES) return { kind: 'too_large', bytes };
  return decodeUtf8(Buffer.concat(chunks));
}

/** Writes all of `text` to fd 1 synchronously, so the response is flushed before the process exits. */
export function writeProcessStdout(text: string): void {
  const data = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(STDOUT_FD, data, offset, data.length - offset);
    } catch (error) {
      // A non-blocking pipe that is full: wait a moment and go on.
      if (!isErrno(error, 'EAGAIN')) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
