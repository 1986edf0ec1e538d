import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger';
import { parseWith } from './json-body';
import type { EmulatedContainer, EmulatedProcess } from './emulated-container';
import type { ExecLauncher } from './exec-launcher';
import { processNotFound, serverError } from './garden-error';
import { goJsonLine } from './go-json';
import { hijackHead, type SocketReader } from './http-wire';
import type { LaunchedProcess, ProcessOutput } from './process-launcher';
import type { ProcessStream, StreamRegistry } from './process-streams';
import type { ScriptedLauncher } from './scripted-launcher';
import { processInputFrame, processSpecJson } from './wire-types';

/** How long Stop waits after SIGTERM before SIGKILL (gdn: 10 s), and destroy waits for the kill. */
const STOP_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Runs and attaches processes and serves their hijacked control and output connections (docs/garden-wire.md, "The process protocol"). */
export class ProcessService {
  constructor(
    private readonly options: {
      mode: 'scripted' | 'exec';
      scripted: ScriptedLauncher;
      exec: ExecLauncher;
      streams: StreamRegistry;
      logger: Logger;
    },
  ) {}

  /** Starts a process; a failure (e.g. ExecutableNotFoundError) is thrown before any hijack. */
  async run(container: EmulatedContainer, body: unknown): Promise<{ process: EmulatedProcess; stream: ProcessStream }> {
    const spec = parseWith(processSpecJson, body);
    if ((spec.bind_mounts ?? []).length > 0 && !spec.image?.uri) {
      throw serverError('process bind mounts are only supported together with an image');
    }
    const id = spec.id === undefined || spec.id === '' ? randomUUID() : spec.id;
    if (container.processes.get(id)?.state === 'running') throw serverError(`process ID '${id}' already in use`);
    const streams: ProcessStream[] = [];
    const output: ProcessOutput = {
      stdout: (chunk) => streams.forEach((stream) => stream.stdout.write(chunk)),
      stderr: (chunk) => streams.forEach((stream) => stream.stderr.write(chunk)),
    };
    const target = { handle: container.handle, containerEnv: container.parsedSpec.env ?? [] };
    let launched: LaunchedProcess;
    if (this.options.mode === 'exec' && container.sandbox) {
      launched = await this.options.exec.launch({ ...target, sandbox: container.sandbox }, spec, output);
    } else {
      launched = await this.options.scripted.launch(target, spec, output);
    }
    const stream = this.options.streams.create();
    streams.push(stream);
    const process: EmulatedProcess = {
      id,
      handle: container.handle,
      spec: body,
      parsedSpec: spec,
      streams,
      state: 'running',
      stdin: '',
      startedAt: Date.now(),
      launched,
      done: Promise.resolve(),
    };
    process.done = launched.exit.then((exit) => {
      process.state = 'exited';
      if ('exitStatus' in exit) process.exitStatus = exit.exitStatus;
      else process.error = exit.error;
    });
    container.processes.set(id, process);
    return { process, stream };
  }

  /** Attach: the same process, a new stream id (unknown pid: 404 ProcessNotFoundError). */
  attach(container: EmulatedContainer | undefined, processId: string): { process: EmulatedProcess; stream: ProcessStream } {
    const process = container?.processes.get(processId);
    if (process === undefined) throw processNotFound(processId);
    const stream = this.options.streams.create();
    process.streams.push(stream);
    return { process, stream };
  }

  /**
   * Connection A: gdn's head (then raw NDJSON, never chunk-framed), the `{process_id, stream_id}` frame,
   * stdin/signal frames in, and finally `exit_status` (or `error`) out; then A closes and the stream drains.
   */
  serveControl(socket: Socket, reader: SocketReader, process: EmulatedProcess, stream: ProcessStream, status: 200 | 201): void {
    socket.write(hijackHead(status, 'application/json') + goJsonLine({ process_id: process.id, stream_id: stream.id }));
    let reading = true;
    let pending = '';
    const stopReading = (): void => {
      reading = false;
      process.launched.closeStdin();
    };
    const onFrame = (line: string): void => {
      let frame;
      try {
        frame = parseWith(processInputFrame, JSON.parse(line));
      } catch {
        stopReading();
        return;
      }
      if (frame.tty !== undefined && frame.tty !== null) return;
      if (frame.source === 0) {
        if (frame.data === undefined) stopReading();
        else {
          process.stdin += frame.data;
          process.launched.writeStdin(frame.data);
        }
        return;
      }
      if (frame.signal === 0 || frame.signal === 1) {
        process.launched.signal(frame.signal === 1 ? 'SIGKILL' : 'SIGTERM');
        return;
      }
      stopReading();
    };
    reader.hijack(
      (chunk) => {
        if (!reading) return;
        pending += chunk.toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0 && reading) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== '') onFrame(line);
          newline = pending.indexOf('\n');
        }
      },
      // The client went away: stdin is closed, the process keeps running (the CPI's agent start relies on it).
      () => {
        if (reading) stopReading();
      },
    );
    void process.done.then(() => {
      if (!socket.destroyed && socket.writable) {
        const last =
          process.error === undefined
            ? { process_id: process.id, exit_status: process.exitStatus }
            : { process_id: process.id, error: process.error };
        socket.end(goJsonLine(last));
      }
      this.options.streams.finish(stream);
    });
  }

  /** Connections B and C: raw output bytes after gdn's head; an unknown stream id closes at once. */
  serveOutput(socket: Socket, streamId: string, which: 'stdout' | 'stderr'): void {
    socket.write(hijackHead(200, undefined));
    const stream = this.options.streams.get(streamId);
    if (stream === undefined) socket.end();
    else stream[which].attach(socket);
  }

  /** Signals every running process of the container and waits (bounded) for them to end. */
  async endProcesses(container: EmulatedContainer, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const running = [...container.processes.values()].filter((process) => process.state === 'running');
    for (const process of running) process.launched.signal(signal);
    const allDone = Promise.all(running.map((process) => process.done));
    const finished = await Promise.race([allDone.then(() => true), sleep(signal === 'SIGTERM' ? STOP_GRACE_MS : KILL_WAIT_MS).then(() => false)]);
    if (!finished && signal === 'SIGTERM') await this.endProcesses(container, 'SIGKILL');
    if (!finished) this.options.logger.warn('processes did not end', { handle: container.handle });
  }
}
