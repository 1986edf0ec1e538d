import type { Readable } from 'node:stream';

export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export type StdinContent = { kind: 'ok'; text: string } | { kind: 'too_large'; bytes: number } | { kind: 'not_utf8' };

/**
 * Strict UTF-8: a lenient decode would turn invalid bytes into U+FFFD and let a mangled cid through as if
 * it were a real one.
 */
export function decodeUtf8(bytes: Buffer): StdinContent {
  try {
    return { kind: 'ok', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { kind: 'not_utf8' };
  }
}

/**
 * Reads stdin to EOF. Past MAX_REQUEST_BYTES the rest is drained and dropped rather than left unread:
 * the Director writes the whole request before reading, so closing early would hand it an EPIPE.
 */
export function readStdin(stdin: Readable, maxBytes = MAX_REQUEST_BYTES): Promise<StdinContent> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    stdin.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= maxBytes) chunks.push(chunk);
    });
    stdin.once('error', reject);
    stdin.once('end', () => {
      if (bytes > maxBytes) resolve({ kind: 'too_large', bytes });
      else resolve(decodeUtf8(Buffer.concat(chunks)));
    });
  });
}
