import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeChunked } from '../../src/garden/hijacked-request';

/**
 * A tiny scripted server for wire-level client tests: each connection is handed to a script that
 * reads requests byte-exactly and writes raw responses (gdn's captured bytes).
 */
export interface RawRequest {
  method: string;
  /** Path with query, as sent. */
  target: string;
  headers: Map<string, string>;
  /** The raw head, for byte-level assertions. */
  head: string;
  body: Buffer;
}

export class RawConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }

  private async until<T>(take: () => T | undefined): Promise<T | undefined> {
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async readRequest(): Promise<RawRequest | undefined> {
    const headEnd = await this.until(() => {
      const index = this.buffer.indexOf('\r\n\r\n');
      return index >= 0 ? index : undefined;
    });
    if (headEnd === undefined) return undefined;
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    this.buffer = this.buffer.subarray(headEnd + 4);
    const [requestLine = '', ...lines] = head.split('\r\n');
    const [method = '', target = ''] = requestLine.split(' ');
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let body: Buffer = Buffer.alloc(0);
    if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'));
      await this.until(() => (this.buffer.length >= length ? true : undefined));
      body = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
    } else if ((headers.get('transfer-encoding') ?? '').includes('chunked')) {
      const decoded = await this.until(() => (this.buffer.includes('0\r\n\r\n') ? decodeChunked(this.buffer) : undefined));
      body = decoded ?? Buffer.alloc(0);
      this.buffer = Buffer.alloc(0);
    }
    return { method, target, headers, head, body };
  }

  /** The next newline-terminated line (a client frame), or undefined at EOF. */
  async readLine(): Promise<string | undefined> {
    return this.until(() => {
      const index = this.buffer.indexOf('\n');
      if (index < 0) return undefined;
      const line = this.buffer.subarray(0, index).toString('utf8');
      this.buffer = this.buffer.subarray(index + 1);
      return line;
    });
  }

  /** Resolves once the client closed its side. */
  async closed(): Promise<void> {
    await this.until(() => (this.ended ? true : undefined));
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  end(data?: string | Buffer): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
  }
}

export interface RawServer {
  network: 'tcp' | 'unix';
  address: string;
  connections: number;
  close(): Promise<void>;
}

const DATE = 'Date: Thu, 26 Nov 2026 17:03:41 GMT\r\n';

/** gdn's JSON response bytes (status line, Content-Type, Date, Content-Length). */
export function jsonResponse(status: number, body: string): string {
  const reason = { 200: 'OK', 404: 'Not Found', 500: 'Internal Server Error' }[status] ?? 'Status';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n${DATE}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export const RUN_HEAD = `HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n${DATE}Transfer-Encoding: chunked\r\n\r\n`;
export const ATTACH_HEAD = `HTTP/1.1 200 OK\r\n${DATE}Transfer-Encoding: chunked\r\n\r\n`;

export async function startRawServer(
  network: 'tcp' | 'unix',
  script: (connection: RawConnection, index: number) => Promise<void> | void,
): Promise<RawServer> {
  const dir = network === 'unix' ? await mkdtemp(path.join(os.tmpdir(), 'garden-raw-')) : undefined;
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const index = connections;
    connections += 1;
    void Promise.resolve(script(new RawConnection(socket), index)).catch(() => socket.destroy());
  });
  const address = await new Promise<string>((resolve) => {
    if (dir) {
      const socketPath = path.join(dir, 'garden.sock');
      server.listen(socketPath, () => resolve(socketPath));
    } else {
      server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as net.AddressInfo).port}`));
    }
  });
  return {
    network,
    address,
    get connections() {
      return connections;
    },
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Answers every connection's single request with `respond(request)` (raw bytes). */
export function answerEach(respond: (request: RawRequest) => string | Buffer): (connection: RawConnection) => Promise<void> {
  return async (connection) => {
    const request = await connection.readRequest();
    if (request) connection.end(respond(request));
  };
}
