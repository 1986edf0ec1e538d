import type net from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../log/logger';
import type { DetachedProcess, GardenProcess, ProcessIO } from './garden-client';
import type { GardenConnector } from './garden-connector';
import { GardenBadResponse, GardenError, GardenProcessError, GardenUnreachable } from './garden-errors';
import { type HijackRequest, hijackedRequest } from './hijacked-request';
import { pathSegment } from './url-path';
import { MAX_PROCESS_FRAME_BYTES } from './garden-limits';
import { type ProcessFrame, type WindowSize, processFrameSchema } from './garden-wire-schemas';

/**
 * The process protocol (docs/garden-wire.md, "The process protocol") on raw sockets: control connection A
 * carries newline-delimited JSON frames both ways; stdout and stderr each come on their own
 * hijacked GET (B, C) as raw bytes, opened only when the caller wants them.
 */

/** Splits a socket's bytes into JSON frames, one per line. */
class FrameReader {
  private buffer = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly queue: ProcessFrame[] = [];
  private waiter: { resolve: (frame: ProcessFrame | undefined) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;

  constructor(
    private readonly socket: net.Socket,
    rest: Buffer,
    private readonly request: HijackRequest,
  ) {
    if (rest.length > 0) this.push(rest);
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.failure ??= new GardenUnreachable(`process connection failed: ${error.message}`, {
        route: request.route,
        handle: request.handle,
        code: error.code ?? 'ECONNRESET',
        cause: error,
      });
      this.finish();
    });
    socket.resume();
  }

  private push(chunk: Buffer): void {
    if (this.failure) return;
    this.buffer += this.decoder.write(chunk);
    if (this.buffer.length > MAX_PROCESS_FRAME_BYTES && this.buffer.indexOf('\n') < 0) {
      this.buffer = '';
      this.failure = new GardenBadResponse(`process frame longer than ${MAX_PROCESS_FRAME_BYTES} bytes`, {
        route: this.request.route,
        handle: this.request.handle,
      });
      this.socket.destroy();
      return;
    }
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line === '') continue;
      this.enqueue(line);
    }
  }

  private enqueue(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.failure ??= new GardenBadResponse(`invalid process frame: ${line.slice(0, 200)}`, {
        route: this.request.route,
        handle: this.request.handle,
      });
      this.socket.destroy();
      return;
    }
    const parsed = processFrameSchema.safeParse(json);
    if (!parsed.success) {
      this.failure ??= new GardenBadResponse(`invalid process frame: ${line.slice(0, 200)}`, {
        route: this.request.route,
        handle: this.request.handle,
      });
      this.socket.destroy();
      return;
    }
    this.queue.push(parsed.data);
    this.deliver();
  }

  private finish(): void {
    if (this.ended) return;
    const tail = (this.buffer + this.decoder.end()).trim();
    this.buffer = '';
    if (tail !== '') this.enqueue(tail);
    this.ended = true;
    this.deliver();
  }

  private deliver(): void {
    if (!this.waiter) return;
    const frame = this.queue.shift();
    if (frame) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(frame);
    } else if (this.ended) {
      const waiter = this.waiter;
      this.waiter = undefined;
      if (this.failure) waiter.reject(this.failure);
      else waiter.resolve(undefined);
    }
  }

  /** The next frame, or undefined at a clean end of the connection. */
  next(): Promise<ProcessFrame | undefined> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.deliver();
    });
  }
}

function closedEarly(request: HijackRequest, what: string): GardenUnreachable {
  return new GardenUnreachable(`Garden closed the process connection ${what}`, {
    route: request.route,
    handle: request.handle,
    code: 'ECONNRESET',
  });
}

/** Reads the first frame ({process_id, stream_id}) of a run or attach. */
async function readStartFrame(reader: FrameReader, request: HijackRequest): Promise<{ processId: string; streamId: string }> {
  const frame = await reader.next();
  if (!frame) throw closedEarly(request, 'before sending the process id');
  if (frame.error !== undefined) throw new GardenProcessError(frame.error, { route: request.route, handle: request.handle });
  if (!frame.process_id || frame.stream_id === undefined) {
    throw new GardenBadResponse(`first process frame lacks process_id/stream_id: ${JSON.stringify(frame)}`, {
      route: request.route,
      handle: request.handle,
    });
  }
  return { processId: frame.process_id, streamId: frame.stream_id };
}

/** Opens B or C and copies its raw bytes into `sink` (with backpressure); resolves at EOF. */
async function attachOutput(
  connector: GardenConnector,
  handle: string,
  processId: string,
  streamId: string,
  name: 'stdout' | 'stderr',
  sink: Writable,
  timeoutMs: number | undefined,
): Promise<{ socket: net.Socket; done: Promise<void> }> {
  const path = `/containers/${pathSegment(handle)}/processes/${pathSegment(processId)}/attaches/${pathSegment(streamId)}/${name}`;
  const { socket, rest, settle } = await hijackedRequest(connector, { method: 'GET', path, route: `GET ${path}`, handle, timeoutMs });
  settle(); // the output lasts as long as the process: only its head has a deadline
  const done = new Promise<void>((resolve) => {
    if (rest.length > 0) sink.write(rest);
    socket.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) {
        socket.pause();
        sink.once('drain', () => socket.resume());
      }
    });
    // A reset on an output stream ends it: the exit status on A is what the caller waits for.
    socket.once('close', () => resolve());
    socket.resume();
  });
  return { socket, done };
}

function writeFrame(socket: net.Socket, frame: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) {
      resolve();
      return;
    }
    const flushed = socket.write(`${JSON.stringify(frame)}\n`);
    if (flushed) resolve();
    else {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    }
  });
}

/** Sends stdin as text frames, then the close frame (`source` 0 without `data`). */
async function pumpStdin(socket: net.Socket, processId: string, stdin: NonNullable<ProcessIO['stdin']>, logger: Logger): Promise<void> {
  const decoder = new StringDecoder('utf8');
  const source = typeof stdin === 'string' || Buffer.isBuffer(stdin) ? Readable.from([Buffer.from(stdin)]) : stdin;
  try {
    for await (const chunk of source) {
      if (socket.destroyed) return;
      const text = decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
      if (text !== '') await writeFrame(socket, { process_id: processId, source: 0, data: text });
    }
    const tail = decoder.end();
    if (tail !== '') await writeFrame(socket, { process_id: processId, source: 0, data: tail });
    await writeFrame(socket, { process_id: processId, source: 0 });
  } catch (error) {
    logger.warn('Sending stdin to a Garden process failed', { processId, error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * Runs the rest of a run/attach once A is open: start frame, output attaches, stdin, exit status.
 */
export async function streamProcess(
  connector: GardenConnector,
  logger: Logger,
  handle: string,
  request: HijackRequest,
  io: ProcessIO,
): Promise<GardenProcess> {
  const { socket: control, rest, settle } = await hijackedRequest(connector, request);
  const reader = new FrameReader(control, rest, request);
  const sockets: net.Socket[] = [control];
  const closeAll = () => sockets.forEach((socket) => socket.destroy());

  try {
    const { processId, streamId } = await readStartFrame(reader, request);
    settle();
    const outputs: Promise<void>[] = [];
    for (const name of ['stdout', 'stderr'] as const) {
      const sink = io[name];
      if (!sink) continue;
      const attached = await attachOutput(connector, handle, processId, streamId, name, sink, request.timeoutMs);
      sockets.push(attached.socket);
      outputs.push(attached.done);
    }
    logger.debug('Garden process started', { handle, processId, streamId, connections: sockets.length });
    if (io.stdin !== undefined) void pumpStdin(control, processId, io.stdin, logger);

    let detached = false;
    const exit = (async () => {
      for (;;) {
        const frame = await reader.next().catch((error: unknown) => {
          throw detached ? new GardenProcessError('detached before the process exited', { route: request.route, handle, processId }) : error;
        });
        if (!frame) {
          if (detached) throw new GardenProcessError('detached before the process exited', { route: request.route, handle, processId });
          throw closedEarly(request, `before process '${processId}' exited`);
        }
        if (frame.error !== undefined)
          throw new GardenProcessError(`process '${processId}': ${frame.error}`, { route: request.route, handle, processId });
        if (frame.exit_status !== undefined) return frame.exit_status;
      }
    })();
    const finished = exit.then(
      async (status) => {
        // gdn drains the output to B and C after A closes; wait for both to reach EOF.
        await Promise.all(outputs);
        closeAll();
        logger.debug('Garden process exited', { handle, processId, exitStatus: status });
        return status;
      },
      (error: unknown) => {
        closeAll();
        throw error;
      },
    );
    finished.catch(() => undefined); // wait() may never be called (detach); don't crash on rejection

    const signalNumber = { terminate: 0, kill: 1 } as const;
    return {
      processId,
      streamId,
      wait: () => finished,
      signal: (signal) => writeFrame(control, { process_id: processId, signal: signalNumber[signal] }),
      setTty: (windowSize: WindowSize) => writeFrame(control, { process_id: processId, tty: { window_size: windowSize } }),
      detach: () => {
        detached = true;
        closeAll();
      },
    };
  } catch (error) {
    closeAll();
    throw error instanceof GardenError ? error : new GardenError(String(error), { route: request.route, handle, cause: error });
  }
}

/** Starts a process and closes A right after the start frame: gdn keeps the process running. */
export async function startDetached(connector: GardenConnector, request: HijackRequest): Promise<DetachedProcess> {
  const { socket, rest } = await hijackedRequest(connector, request);
  try {
    const reader = new FrameReader(socket, rest, request);
    return await readStartFrame(reader, request);
  } finally {
    socket.destroy();
  }
}
