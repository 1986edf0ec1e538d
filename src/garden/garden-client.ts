import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log/logger';
import type { ContainerInfo, ContainerSpec, ProcessSpec, WindowSize } from './garden-wire-schemas';
import type { GardenTimeouts } from './garden-limits';
import { createHttpGardenClient } from './http-garden-client';

export { DEFAULT_LONG_REQUEST_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, MAX_JSON_RESPONSE_BYTES, type GardenTimeouts } from './garden-limits';

export type {
  BindMount,
  ContainerInfo,
  ContainerLimits,
  ContainerSpec,
  GardenErrorBody,
  ImageRef,
  NetOutRule,
  ProcessSpec,
  WindowSize,
} from './garden-wire-schemas';
export { BindMountMode, BindMountOrigin, NetOutProtocol } from './garden-wire-schemas';
export {
  GardenBadResponse,
  GardenContainerNotFound,
  GardenError,
  GardenExecutableNotFound,
  GardenProcessError,
  GardenProcessNotFound,
  GardenServiceUnavailable,
  GardenUnreachable,
  GardenUnrecoverable,
} from './garden-errors';

/**
 * Where Garden listens: `tcp` + "host:port" (bosh-lite: 127.0.0.1:7777) or `unix` + socket path
 * (garden-runc default /var/vcap/data/garden/garden.sock). Same shape as config.warden.connect_*.
 */
export interface GardenAddress {
  network: 'tcp' | 'unix';
  address: string;
}

/** Bounded retry of idempotent GETs on ECONNREFUSED/ECONNRESET/ENOENT. Mutating calls never retry. */
export interface GardenRetryOptions {
  /** Total tries including the first (default 4; 1 disables retrying). */
  attempts?: number;
  /** Delay before the first retry, doubled each time (default 200 ms). */
  initialDelayMs?: number;
  /** Cap on one delay (default 2000 ms). */
  maxDelayMs?: number;
}

export interface GardenClientOptions extends GardenAddress {
  logger: Logger;
  retry?: GardenRetryOptions;
  /** Connect timeout for every connection (default 5000 ms; Go's client uses 2 s). */
  connectTimeoutMs?: number;
  timeouts?: GardenTimeouts;
  /**
   * Requests made one after the other share one keep-alive connection (the CPI: one short process per
   * call, so a call such as set_vm_metadata opens one connection for all its requests). Default false:
   * one connection per request, like Go's client (DisableKeepAlives). Process and streaming requests
   * always get their own connections.
   */
  keepAlive?: boolean;
}

/** What a process reads and writes. Only streams given here get a connection (see GardenClient). */
export interface ProcessIO {
  /**
   * Sent as text frames (gdn's stdin is text-only: invalid UTF-8 becomes U+FFFD), then closed at its
   * end. Without stdin the client never closes the process's stdin, exactly like Go's client.
   */
  stdin?: Readable | string | Buffer;
  /** Receives raw stdout bytes (a second connection). Not ended by the client. */
  stdout?: Writable;
  /** Receives raw stderr bytes (a third connection). Not ended by the client. */
  stderr?: Writable;
}

/** A running (or finished) process on an open control connection. */
export interface GardenProcess {
  readonly processId: string;
  readonly streamId: string;
  /**
   * The exit status, once gdn sent it and the attached stdout/stderr reached EOF; all connections
   * are closed afterwards. Rejects with GardenProcessError on an `error` frame and GardenUnreachable
   * when the control connection ends without a status.
   */
  wait(): Promise<number>;
  /**
   * SIGTERM ('terminate') or SIGKILL ('kill'). gdn stops reading the control connection after
   * stdin was closed, so signal before stdin ends (or run without stdin).
   */
  signal(signal: 'terminate' | 'kill'): Promise<void>;
  /** Resizes the TTY of a process started with `tty`. */
  setTty(windowSize: WindowSize): Promise<void>;
  /** Closes every connection without killing the process (gdn keeps it running). */
  detach(): void;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Collect stdout (one more connection; default true). */
  stdout?: boolean;
  /** Collect stderr (one more connection; default true). */
  stderr?: boolean;
  /** Keep at most this many bytes of each stream (default 1 MiB); the rest is dropped. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  exitStatus: number;
  stdout: string;
  stderr: string;
}

export interface DetachedProcess {
  processId: string;
  streamId: string;
}

/**
 * The part of gdn's API the CPI, its tests and the benchmarks use (docs/garden-wire.md); the emulator
 * serves the rest of gdn's routes for the comparison suite, over raw HTTP. No keep-alive: every call opens its own
 * connections and closes them before it resolves. TCP/unix connections per call (retries of GETs
 * add one each):
 *   - every JSON route, streamIn, streamOut: 1
 *   - runDetached: 1
 *   - run / attach: 1 + 1 if io.stdout + 1 if io.stderr
 *   - exec: 1 + 1 per collected stream (3 with the defaults, 1 with stdout:false, stderr:false)
 * Handles, process ids, stream ids and property keys are percent-encoded as one path segment each
 * ('', '.' and '..' are refused). Every request has a deadline (GardenTimeouts) and JSON response
 * bodies are capped at MAX_JSON_RESPONSE_BYTES.
 */
export interface GardenClient {
  readonly address: GardenAddress;

  /** Handles whose properties equal every filter (gdn hides containers not yet `garden.state=created`). */
  list(propertyFilters?: Record<string, string>): Promise<string[]>;
  /** Returns the handle (the requested one, or gdn's UUID). */
  create(spec: ContainerSpec): Promise<string>;
  info(handle: string): Promise<ContainerInfo>;
  destroy(handle: string): Promise<void>;
  /** Kills every process but init; `kill` sends SIGKILL at once instead of SIGTERM first. */
  stop(handle: string, kill: boolean): Promise<void>;

  /**
   * Extracts an uncompressed tar (see garden-tar.ts) into directory `destination` (created if
   * missing) as `user` (default root). The tar is streamed, never buffered.
   */
  streamIn(handle: string, options: { destination: string; user?: string }, tar: Readable): Promise<void>;
  /**
   * A tar of `source` (a file, or a directory's contents when it ends in '/'), streamed. A missing
   * source gives an empty tar, not an error (gdn's behaviour).
   */
  streamOut(handle: string, options: { source: string; user?: string }): Promise<Readable>;

  properties(handle: string): Promise<Record<string, string>>;
  setProperty(handle: string, key: string, value: string): Promise<void>;
  removeProperty(handle: string, key: string): Promise<void>;

  /** Starts a process; resolves once gdn sent its process id (streams attached as requested). */
  run(handle: string, spec: ProcessSpec, io?: ProcessIO): Promise<GardenProcess>;
  /**
   * Starts a process and closes the connection as soon as its id arrived, without waiting or
   * killing it: one connection (the agent start).
   */
  runDetached(handle: string, spec: ProcessSpec): Promise<DetachedProcess>;
  /** run + wait, collecting output as text. A non-zero exit status is returned, not thrown. */
  exec(handle: string, spec: ProcessSpec, options?: ExecOptions): Promise<ExecResult>;
}

export function createGardenClient(options: GardenClientOptions): GardenClient {
  return createHttpGardenClient(options);
}
