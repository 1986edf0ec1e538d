import type { Socket } from 'node:net';

/** One output stream (stdout or stderr) of one stream id: buffers until a client attaches. */
export class OutputChannel {
  private pending: Buffer[] = [];
  private socket: Socket | undefined;
  private closed = false;

  write(chunk: Buffer): void {
    if (this.closed) return;
    if (this.socket) this.socket.write(chunk);
    else this.pending.push(chunk);
  }

  /** A client attached: it gets everything buffered so far, then live output until the process is done. */
  attach(socket: Socket): void {
    for (const chunk of this.pending) socket.write(chunk);
    this.pending = [];
    if (this.closed) socket.end();
    else {
      this.socket?.end();
      this.socket = socket;
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
      });
    }
  }

  /** The process finished: attached clients are drained and closed; late attaches get the rest, then EOF. */
  close(): void {
    this.closed = true;
    this.socket?.end();
    this.socket = undefined;
  }
}

/** The stdout/stderr pair behind one `stream_id` (G `server/streamer`). */
export interface ProcessStream {
  id: string;
  stdout: OutputChannel;
  stderr: OutputChannel;
}

/** How long a finished stream id still serves late attaches (gdn keeps it a minute). */
const STREAM_RETENTION_MS = 60_000;

/** Server-wide stream ids: a decimal counter from "1". */
export class StreamRegistry {
  private nextId = 1;
  private readonly streams = new Map<string, ProcessStream>();
  private readonly timers = new Set<NodeJS.Timeout>();

  create(): ProcessStream {
    const stream = { id: String(this.nextId), stdout: new OutputChannel(), stderr: new OutputChannel() };
    this.nextId += 1;
    this.streams.set(stream.id, stream);
    return stream;
  }

  get(id: string): ProcessStream | undefined {
    return this.streams.get(id);
  }

  /** Closes both channels and forgets the id after the retention time. */
  finish(stream: ProcessStream): void {
    stream.stdout.close();
    stream.stderr.close();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.streams.delete(stream.id);
    }, STREAM_RETENTION_MS);
    timer.unref();
    this.timers.add(timer);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const stream of this.streams.values()) {
      stream.stdout.close();
      stream.stderr.close();
    }
    this.streams.clear();
  }
}
