import type net from 'node:net';
import type { GardenConnector } from './garden-connector';
import { GardenBadResponse, GardenError, GardenUnreachable, errorFromBody } from './garden-errors';
import { errorBodySchema } from './garden-wire-schemas';

/**
 * HTTP over a raw socket for the process routes. gdn answers them with a `Transfer-Encoding:
 * chunked` head and then hijacks the connection and sends raw bytes (measured), which Node's HTTP
 * client would try to de-chunk. So: write the request by hand, parse the head up to CRLFCRLF, and
 * hand the socket over together with whatever arrived after the head.
 */
export interface HijackedResponse {
  socket: net.Socket;
  status: number;
  /** Lower-cased header names. */
  headers: Map<string, string>;
  /** Bytes that arrived together with the head: the start of the raw stream. */
  rest: Buffer;
  /**
   * Ends the request's deadline (call once the process's first frame arrived). Until then the socket is
   * destroyed with an ETIMEDOUT error when the deadline passes.
   */
  settle(): void;
}

export interface HijackRequest {
  method: 'GET' | 'POST';
  path: string;
  /** JSON text; sent with Content-Type: application/json and Content-Length. */
  body?: string;
  /** For error messages. */
  route: string;
  handle?: string;
  /** Deadline in ms from the connection to the caller's settle() (head, error body, first frame). 0: none. */
  timeoutMs?: number;
}

const MAX_HEAD = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

function parseHead(head: string): { status: number; headers: Map<string, string> } | undefined {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), headers };
}

/** Decodes a complete chunked body, or returns undefined while the terminating chunk is missing. */
export function decodeChunked(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return Buffer.concat(parts);
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (data.length < start + size) return undefined;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}

function unreachable(request: HijackRequest, error: NodeJS.ErrnoException, detail: string): GardenUnreachable {
  return new GardenUnreachable(`${detail}: ${error.message}`, {
    route: request.route,
    handle: request.handle,
    code: error.code ?? 'ECONNRESET',
    cause: error,
  });
}

/**
 * Reads an error response's body (Content-Length, chunked, or up to EOF) and turns it into the
 * typed Garden error. Always destroys the socket.
 */
function readErrorResponse(
  socket: net.Socket,
  request: HijackRequest,
  status: number,
  headers: Map<string, string>,
  rest: Buffer,
): Promise<GardenError> {
  const length = headers.has('content-length') ? Number(headers.get('content-length')) : undefined;
  const chunked = (headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked');
  return new Promise((resolve) => {
    let body = rest;
    let done = false;
    const finish = (complete: Buffer) => {
      if (done) return;
      done = true;
      socket.destroy();
      const text = complete.subarray(0, MAX_ERROR_BODY).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = errorBodySchema.safeParse(json);
      resolve(
        parsed.success
          ? errorFromBody(parsed.data, request.route, status, request.handle)
          : new GardenBadResponse(`HTTP ${status} with a non-Garden error body: ${text.trim().slice(0, 500) || '<empty body>'}`, {
              route: request.route,
              handle: request.handle,
              status,
            }),
      );
    };
    const check = () => {
      if (length !== undefined && body.length >= length) finish(body.subarray(0, length));
      else if (chunked) {
        const decoded = decodeChunked(body);
        if (decoded) finish(decoded);
      }
      if (body.length > MAX_ERROR_BODY * 2) finish(body);
    };
    socket.on('data', (chunk: Buffer) => {
      body = Buffer.concat([body, chunk]);
      check();
    });
    socket.on('end', () => finish(chunked ? (decodeChunked(body) ?? body) : body));
    socket.on('close', () => finish(body));
    socket.on('error', () => finish(body));
    check();
    socket.resume();
  });
}

/**
 * Opens a fresh connection, sends the request and reads the response head. A 2xx resolves with the
 * socket paused and no listeners but an error guard; anything else rejects with the typed error.
 */
export async function hijackedRequest(connector: GardenConnector, request: HijackRequest): Promise<HijackedResponse> {
  let socket: net.Socket;
  try {
    socket = await connector.connect();
  } catch (error) {
    throw unreachable(request, error as NodeJS.ErrnoException, `cannot reach Garden at ${connector.address.address}`);
  }
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  const head = [
    `${request.method} ${request.path} HTTP/1.1`,
    'Host: api',
    'User-Agent: garden-cpi',
    ...(body ? ['Content-Type: application/json', `Content-Length: ${body.length}`] : []),
    '',
    '',
  ].join('\r\n');
  const timeoutMs = request.timeoutMs ?? 0;
  const timer =
    timeoutMs > 0
      ? setTimeout(
          () =>
            socket.destroy(
              Object.assign(new Error(`no complete answer within ${timeoutMs / 1000} s (the request's deadline)`), { code: 'ETIMEDOUT' }),
            ),
          timeoutMs,
        )
      : undefined;
  const settle = () => clearTimeout(timer);
  socket.once('close', settle);
  socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head);

  const { status, headers, rest } = await new Promise<{ status: number; headers: Map<string, string>; rest: Buffer }>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    const fail = (error: GardenError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_HEAD) fail(new GardenBadResponse('response head too large', { route: request.route, handle: request.handle }));
        return;
      }
      const parsed = parseHead(received.subarray(0, end).toString('latin1'));
      if (!parsed) {
        fail(
          new GardenBadResponse(`not an HTTP response: ${received.subarray(0, 80).toString('latin1')}`, {
            route: request.route,
            handle: request.handle,
          }),
        );
        return;
      }
      cleanup();
      socket.pause();
      resolve({ ...parsed, rest: received.subarray(end + 4) });
    };
    const onEnd = () =>
      fail(
        unreachable(
          request,
          Object.assign(new Error('connection closed before a response'), { code: 'ECONNRESET' }),
          'Garden dropped the connection',
        ),
      );
    const onError = (error: NodeJS.ErrnoException) => fail(unreachable(request, error, 'Garden connection failed'));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });

  if (status < 200 || status > 299) throw await readErrorResponse(socket, request, status, headers, rest);
  // Keep a guard so a reset before the caller attaches its listeners cannot crash the process.
  socket.on('error', () => undefined);
  return { socket, status, headers, rest, settle };
}
