import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** One parsed HTTP/1.1 request; header names lower-cased. */
export interface HttpRequest {
  method: string;
  /** Path without the query string, as sent (Garden clients do not escape path params). */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
}

const MAX_HEAD_BYTES = 1024 * 1024;

/**
 * Reads requests off a raw socket. A raw parser (not node's http.Server) because after a process request
 * the same connection carries NDJSON frames, which an HTTP parser would take for the next request.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  private tap: ((chunk: Buffer) => void) | undefined;
  private tapEnd: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.tap) this.tap(chunk);
      else {
        this.chunks.push(chunk);
        this.length += chunk.length;
        this.notify();
      }
    });
    const finish = (): void => {
      if (this.ended) return;
      this.ended = true;
      this.notify();
      this.tapEnd?.();
    };
    socket.on('end', finish);
    socket.on('close', finish);
  }

  /** The next request, or null when the peer closed the connection between requests. */
  async readRequest(): Promise<HttpRequest | null> {
    const headEnd = await this.waitFor(() => {
      const index = this.peek().indexOf('\r\n\r\n');
      if (index < 0 && this.length > MAX_HEAD_BYTES) throw new Error('request head too large');
      return index < 0 ? undefined : index;
    });
    if (headEnd === undefined) {
      if (this.length > 0) throw new Error('connection closed inside a request head');
      return null;
    }
    const head = this.take(headEnd + 4).toString('latin1');
    const [requestLine = '', ...headerLines] = head.slice(0, -4).split('\r\n');
    const [method = '', target = '/'] = requestLine.split(' ');
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const queryStart = target.indexOf('?');
    const path = queryStart < 0 ? target : target.slice(0, queryStart);
    const query = new URLSearchParams(queryStart < 0 ? '' : target.slice(queryStart + 1));
    // curl sends `Expect: 100-continue` before larger uploads; Go's server answers it when the body is read.
    if ((headers.expect ?? '').toLowerCase() === '100-continue') this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    const body = /chunked/i.test(headers['transfer-encoding'] ?? '')
      ? await this.readChunkedBody()
      : await this.readExactly(Number(headers['content-length'] ?? '0'));
    return { method, path, query, headers, body };
  }

  /** Hands every byte not yet consumed, and all later ones, to `onData` (a hijacked connection). */
  hijack(onData: (chunk: Buffer) => void, onEnd: () => void): void {
    const pending = this.take(this.length);
    this.tap = onData;
    this.tapEnd = onEnd;
    if (pending.length > 0) onData(pending);
    if (this.ended) onEnd();
  }

  private async readChunkedBody(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = await this.waitFor(() => {
        const index = this.peek().indexOf('\r\n');
        return index < 0 ? undefined : index;
      });
      if (lineEnd === undefined) throw new Error('connection closed inside a chunked body');
      const size = Number.parseInt(
        this.take(lineEnd + 2)
          .toString('latin1')
          .split(';')[0] ?? '',
        16,
      );
      if (!Number.isFinite(size)) throw new Error('bad chunk size');
      if (size === 0) {
        // Trailers (none expected) end with an empty line.
        for (;;) {
          const end = await this.waitFor(() => {
            const index = this.peek().indexOf('\r\n');
            return index < 0 ? undefined : index;
          });
          if (end === undefined || end === 0) {
            if (end === 0) this.take(2);
            return Buffer.concat(parts);
          }
          this.take(end + 2);
        }
      }
      parts.push(await this.readExactly(size));
      await this.readExactly(2);
    }
  }

  private async readExactly(size: number): Promise<Buffer> {
    if (!Number.isFinite(size) || size < 0) throw new Error('bad Content-Length');
    const ready = await this.waitFor(() => (this.length >= size ? true : undefined));
    if (ready === undefined) throw new Error('connection closed inside a request body');
    return this.take(size);
  }

  private async waitFor<T>(check: () => T | undefined): Promise<T | undefined> {
    for (;;) {
      const result = check();
      if (result !== undefined) return result;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private peek(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(size: number): Buffer {
    const all = this.peek();
    const taken = all.subarray(0, size);
    const rest = all.subarray(size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return taken;
  }
}

/** Go's http.TimeFormat: `Thu, 26 Nov 2026 17:03:41 GMT`. */
export function httpDate(now = new Date()): string {
  return now.toUTCString();
}

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

/** Go's net/http buffers 2048 bytes before it must choose chunked encoding. */
const GO_RESPONSE_BUFFER = 2048;

/**
 * A complete response as Go's net/http writes it for a handler that set only Content-Type and wrote the
 * body once: `Content-Type, Date, Content-Length[, Connection: close]`, or chunked past 2048 bytes.
 */
export function writeResponse(
  socket: Socket,
  status: number,
  body: string,
  options: { contentType?: string; extraHeaders?: [string, string][]; close: boolean },
): void {
  const bytes = Buffer.from(body, 'utf8');
  let head = statusLine(status);
  if (options.contentType !== undefined) head += `Content-Type: ${options.contentType}\r\n`;
  for (const [name, value] of options.extraHeaders ?? []) head += `${name}: ${value}\r\n`;
  head += `Date: ${httpDate()}\r\n`;
  const chunked = bytes.length > GO_RESPONSE_BUFFER;
  if (!chunked) head += `Content-Length: ${bytes.length}\r\n`;
  if (options.close) head += 'Connection: close\r\n';
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  head += '\r\n';
  if (chunked) {
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), chunkFrame(bytes), Buffer.from('0\r\n\r\n', 'latin1')]));
  } else {
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
  }
  if (options.close) socket.end();
}

/** One chunk of a chunked body (`<hex size>\r\n<data>\r\n`). */
export function chunkFrame(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1')]);
}

/** The head of a streamed (sniffed, chunked) body, as captured for `GET /files`. */
export function streamHead(status: number, contentType: string, close: boolean): string {
  return `${statusLine(status)}Date: ${httpDate()}\r\nContent-Type: ${contentType}\r\n${
    close ? 'Connection: close\r\n' : ''
  }Transfer-Encoding: chunked\r\n\r\n`;
}

/**
 * The head gdn flushes before hijacking a process connection: chunked is announced, yet the bytes that
 * follow are raw (never chunk-framed).
 */
export function hijackHead(status: 200 | 201, contentType: string | undefined): string {
  const type = contentType === undefined ? '' : `Content-Type: ${contentType}\r\n`;
  return `${statusLine(status)}${type}Date: ${httpDate()}\r\nTransfer-Encoding: chunked\r\n\r\n`;
}
