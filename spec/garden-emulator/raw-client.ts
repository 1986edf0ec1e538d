// Test helpers: talk to the emulator over raw sockets (never the CPI's Garden client, written elsewhere).
import { connect, type Socket } from 'node:net';
import type { GardenEmulator } from '../../src/garden-emulator/garden-emulator';

export function connectTo(address: GardenEmulator['address']): Socket {
  if (address.network === 'unix') return connect(address.address);
  const colon = address.address.lastIndexOf(':');
  return connect(Number(address.address.slice(colon + 1)), address.address.slice(0, colon));
}

/** Sends raw bytes, reads exactly one complete response (keep-alive: the server would not close), then closes. */
export function exchangeOne(address: GardenEmulator['address'], bytes: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(address);
    let received = Buffer.alloc(0);
    const complete = (): boolean => {
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return false;
      const head = received.subarray(0, headEnd).toString('latin1');
      const body = received.subarray(headEnd + 4);
      if (/Transfer-Encoding: chunked/i.test(head)) return body.includes('\r\n0\r\n\r\n') || body.subarray(0, 5).toString() === '0\r\n\r\n';
      const length = /Content-Length: (\d+)/i.exec(head);
      return length !== null && body.length >= Number(length[1]);
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (complete()) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(bytes);
  });
}

/** Sends raw bytes and returns everything the server sends until it closes the connection. */
export function rawExchange(address: GardenEmulator['address'], bytes: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(address);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(bytes);
  });
}

/** The Date header is the only part of a response that changes between runs. */
export function withoutDate(text: string): string {
  return text.replace(/\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/, '\r\nDate: <date>\r\n');
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  head: string;
  body: Buffer;
  json(): unknown;
}

/** Decodes one complete HTTP response (Content-Length or chunked). */
export function parseResponse(raw: Buffer): ParsedResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no response head in ${JSON.stringify(raw.toString())}`);
  const head = raw.subarray(0, headEnd).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = raw.subarray(headEnd + 4);
  let body: Buffer;
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) break;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else {
    body = rest.subarray(0, Number(headers['content-length'] ?? rest.length));
  }
  return { status: Number(statusLine.split(' ')[1]), headers, head, body, json: () => JSON.parse(body.toString('utf8')) as unknown };
}

/** One request on its own connection (`Connection: close`, as Go's stream-style client sends it). */
export async function request(
  emulator: GardenEmulator,
  method: string,
  path: string,
  body?: unknown,
  options: { contentType?: string; rawBody?: Buffer } = {},
): Promise<ParsedResponse> {
  const payload = options.rawBody ?? (body === undefined ? Buffer.alloc(0) : Buffer.from(`${JSON.stringify(body)}\n`));
  const contentType = options.contentType ?? (payload.length > 0 ? 'application/json' : undefined);
  const head =
    `${method} ${path} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n` +
    (payload.length > 0 ? `Content-Length: ${payload.length}\r\n` : '') +
    (contentType ? `Content-Type: ${contentType}\r\n` : '') +
    'Connection: close\r\n\r\n';
  return parseResponse(await rawExchange(emulator.address, Buffer.concat([Buffer.from(head), payload])));
}

/** A hijacked process connection: the head, then NDJSON frames in both directions. */
export class ProcessConnection {
  head = '';
  private buffer = '';
  private headDone = false;
  private frames: unknown[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  readonly done: Promise<void>;

  constructor(readonly socket: Socket) {
    this.done = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      if (!this.headDone) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.head = this.buffer.slice(0, end + 4);
        this.buffer = this.buffer.slice(end + 4);
        this.headDone = true;
      }
      let newline = this.buffer.indexOf('\n');
      while (newline >= 0) {
        this.frames.push(JSON.parse(this.buffer.slice(0, newline)));
        this.buffer = this.buffer.slice(newline + 1);
        newline = this.buffer.indexOf('\n');
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  async nextFrame(): Promise<Record<string, unknown> | undefined> {
    while (this.frames.length === 0 && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.frames.shift() as Record<string, unknown> | undefined;
  }

  send(frame: unknown): void {
    this.socket.write(`${JSON.stringify(frame)}\n`);
  }
}

/** POST /processes the way Go's client does it; resolves after the first frame (or with the error response). */
export async function startProcess(
  emulator: GardenEmulator,
  handle: string,
  spec: Record<string, unknown>,
): Promise<{ connection: ProcessConnection; processId: string; streamId: string }> {
  const socket = connectTo(emulator.address);
  const connection = new ProcessConnection(socket);
  const body = `${JSON.stringify(spec)}\n`;
  socket.write(
    `POST /containers/${handle}/processes HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n\r\n${body}`,
  );
  const first = await connection.nextFrame();
  if (first === undefined || !connection.head.startsWith('HTTP/1.1 201 ')) {
    throw new Error(`process start failed: ${connection.head}${JSON.stringify(first)}`);
  }
  return { connection, processId: String(first.process_id), streamId: String(first.stream_id) };
}

/** GET …/attaches/<stream>/stdout|stderr: the raw head plus all bytes until the server closes. */
export async function readStream(
  emulator: GardenEmulator,
  handle: string,
  processId: string,
  streamId: string,
  which: 'stdout' | 'stderr',
): Promise<{ head: string; data: string }> {
  const raw = await rawExchange(
    emulator.address,
    `GET /containers/${handle}/processes/${processId}/attaches/${streamId}/${which} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\n\r\n`,
  );
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, end + 4), data: text.slice(end + 4) };
}

/** An uncompressed tar of the given entries (tar-stream, as the CPI builds its uploads). */
export async function tarOf(entries: { name: string; mode: number; content: string }[]): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const archive = pack();
  for (const entry of entries) archive.entry({ name: entry.name, mode: entry.mode, uid: 0, gid: 0 }, entry.content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
