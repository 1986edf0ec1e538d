import { existsSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log/logger';
import { ContainerStore, type ProcessMode } from './container-store';
import type { RootfsInfo } from './emulated-container';
import { ExecLauncher } from './exec-launcher';
import { FaultInjector, type FaultSpec } from './fault-injector';
import { containerPath } from './file-streaming';
import { GardenApiError } from './garden-error';
import { goJsonLine } from './go-json';
import { SocketReader, writeResponse, type HttpRequest } from './http-wire';
import { NetworkPool, type NetworkLease } from './network-pool';
import { ProcessService } from './process-service';
import { StreamRegistry } from './process-streams';
import { createHandlers, type HandlerResult } from './request-handlers';
import { matchRoute } from './route-table';
import { ScriptedLauncher, type ProcessMatcher, type ProcessScript } from './scripted-launcher';

export type { FaultSpec } from './fault-injector';
export type { ProcessScript } from './scripted-launcher';
export type { ProcessSpecJson } from './wire-types';

export interface GardenEmulatorOptions {
  listen: { host?: string; port?: number } | { socketPath: string };
  /** Per-container dirs go under <stateDir>/containers (removed by close()). */
  stateDir: string;
  /** `scripted` (default): processes are recorded and scripted. `exec` (Linux, root): real namespaces and processes. */
  processMode?: ProcessMode;
  /** gdn's `--tag`: in the names of interfaces (`w<tag>…`), bridges and iptables chains (`w-<tag>-`). Default none. */
  tag?: string;
  logger?: Logger;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** Parsed JSON, the byte count of a tar upload, the raw text if not JSON, or undefined when empty. */
  body: unknown;
  /** Counts from 1 per accepted connection since start. */
  connectionId: number;
  /** Date.now() when the request was read. */
  at: number;
}

export interface ProcessStateView {
  id: string;
  /** The ProcessSpec JSON as received. */
  spec: unknown;
  streamIds: string[];
  state: 'running' | 'exited';
  exitStatus?: number;
  error?: string;
  stdin: string;
  startedAt: number;
}

export interface ContainerStateView {
  handle: string;
  /** The ContainerSpec JSON as received. */
  spec: unknown;
  properties: Record<string, string>;
  bindMounts: { srcPath: string; dstPath: string; mode: number }[];
  rootfs: RootfsInfo;
  /** Host path of the container's root as the container sees it (written files; exec: the live view). */
  rootfsViewDir: string;
  network: NetworkLease;
  state: 'active' | 'stopped';
  processes: ProcessStateView[];
}

export interface GardenEmulator {
  readonly address: { network: 'tcp' | 'unix'; address: string };
  readonly requests: RecordedRequest[];
  connectionCount(): number;
  resetRecords(): void;
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  scriptProcess(match: ProcessMatcher, script: ProcessScript): void;
  containerHandles(): string[];
  containerState(handle: string): ContainerStateView | undefined;
  /** Host path of `path` as the container sees it (written files first, then the image dir), if it exists. */
  containerFile(handle: string, path: string): string | undefined;
  close(): Promise<void>;
}

function recordedBody(request: HttpRequest): unknown {
  if (request.body.length === 0) return undefined;
  if (/x-tar/.test(request.headers['content-type'] ?? '') || request.path.endsWith('/files')) return request.body.length;
  const text = request.body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a Garden server speaking gdn's wire format (docs/garden-wire.md). */
export async function startGardenEmulator(options: GardenEmulatorOptions): Promise<GardenEmulator> {
  const logger = options.logger ?? silentLogger;
  const mode = options.processMode ?? 'scripted';
  await mkdir(join(options.stateDir, 'containers'), { recursive: true });
  const network = new NetworkPool();
  const streams = new StreamRegistry();
  const scripted = new ScriptedLauncher();
  const processes = new ProcessService({ mode, scripted, exec: new ExecLauncher(), streams, logger });
  const store = new ContainerStore({
    stateDir: options.stateDir,
    processMode: mode,
    ...(options.tag === undefined ? {} : { tag: options.tag }),
    network,
    logger,
    endProcesses: (container, signal) => processes.endProcesses(container, signal),
  });
  const handlers = createHandlers({ store, processes, network });
  const faults = new FaultInjector();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let nextConnectionId = 1;

  const dispatch = async (request: HttpRequest, socket: Socket, reader: SocketReader, close: boolean): Promise<HandlerResult> => {
    const route = matchRoute(request.method, request.path);
    if (route.kind === 'notFound') {
      writeResponse(socket, 404, '404 page not found\n', {
        contentType: 'text/plain; charset=utf-8',
        extraHeaders: [['X-Content-Type-Options', 'nosniff']],
        close,
      });
      return 'handled';
    }
    if (route.kind === 'methodNotAllowed') {
      writeResponse(socket, 405, 'Method Not Allowed\n', {
        contentType: 'text/plain; charset=utf-8',
        extraHeaders: [
          ['Allow', route.allow.join(', ')],
          ['X-Content-Type-Options', 'nosniff'],
        ],
        close,
      });
      return 'handled';
    }
    if (route.params.handle !== undefined) store.touch(route.params.handle);
    // gdn reads a form-encoded body as a form, leaving nothing for the JSON decoder (captured: `EOF`).
    const effective = /x-www-form-urlencoded/.test(request.headers['content-type'] ?? '') ? { ...request, body: Buffer.alloc(0) } : request;
    return handlers[route.name]({ request: effective, params: route.params, socket, reader, close });
  };

  const serve = async (socket: Socket, connectionId: number): Promise<void> => {
    const reader = new SocketReader(socket);
    for (;;) {
      const request = await reader.readRequest();
      if (request === null) return;
      requests.push({
        method: request.method,
        path: request.path,
        query: Object.fromEntries(request.query),
        headers: request.headers,
        body: recordedBody(request),
        connectionId,
        at: Date.now(),
      });
      logger.debug('garden request', { method: request.method, path: request.path, connectionId });
      const close = (request.headers.connection ?? '').toLowerCase() === 'close';
      const fault = faults.take(request.method, request.path);
      if (fault?.delayMs) await sleep(fault.delayMs);
      if (fault?.drop) {
        socket.destroy();
        return;
      }
      let result: HandlerResult;
      if (fault && (fault.status !== undefined || fault.errorType !== undefined || fault.message !== undefined)) {
        const error = new GardenApiError(fault.status ?? 500, fault.errorType ?? '', fault.message ?? 'injected fault');
        writeResponse(socket, error.status, error.body(), { contentType: 'application/json', close });
        result = 'handled';
      } else {
        try {
          result = await dispatch(request, socket, reader, close);
        } catch (error) {
          const apiError =
            error instanceof GardenApiError ? error : new GardenApiError(500, '', error instanceof Error ? error.message : String(error));
          if (!(error instanceof GardenApiError)) logger.warn('emulator handler failed', { path: request.path, error: apiError.message });
          writeResponse(socket, apiError.status, apiError.body(), { contentType: 'application/json', close });
          result = 'handled';
        }
      }
      if (result === 'drop') {
        socket.destroy();
        return;
      }
      if (typeof result === 'object') writeResponse(socket, result.status, goJsonLine(result.body), { contentType: 'application/json', close });
      if (result === 'hijacked' || close || socket.destroyed) return;
    }
  };

  const server: Server = createServer((socket) => {
    connections += 1;
    const connectionId = nextConnectionId++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket, connectionId).catch((error: unknown) => {
      logger.debug('garden connection failed', { connectionId, error: String(error) });
      socket.destroy();
    });
  });

  let address: GardenEmulator['address'];
  if ('socketPath' in options.listen) {
    const socketPath = options.listen.socketPath;
    // gdn removes a stale socket file first and makes the new one world-writable.
    await rm(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
    await chmod(socketPath, 0o777);
    address = { network: 'unix', address: socketPath };
  } else {
    const { host = '127.0.0.1', port = 0 } = options.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const bound = server.address();
    if (bound === null || typeof bound === 'string') throw new Error('garden emulator: no TCP address');
    address = { network: 'tcp', address: `${host}:${bound.port}` };
  }

  let closing: Promise<void> | undefined;
  return {
    address,
    requests,
    connectionCount: () => connections,
    resetRecords: () => {
      requests.length = 0;
      connections = 0;
    },
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    scriptProcess: (match, script) => scripted.register(match, script),
    containerHandles: () => store.handles(),
    containerState: (handle) => {
      const container = store.get(handle);
      if (container === undefined) return undefined;
      return {
        handle,
        spec: container.spec,
        properties: Object.fromEntries([...container.properties].sort(([a], [b]) => (a < b ? -1 : 1))),
        bindMounts: container.bindMounts.map((mount) => ({ srcPath: mount.src_path, dstPath: mount.dst_path, mode: mount.mode })),
        rootfs: container.rootfs,
        rootfsViewDir: container.rootfs.viewDir,
        network: container.network,
        state: container.stopped ? 'stopped' : 'active',
        processes: [...container.processes.values()].map((process) => ({
          id: process.id,
          spec: process.spec,
          streamIds: process.streams.map((stream) => stream.id),
          state: process.state,
          ...(process.exitStatus === undefined ? {} : { exitStatus: process.exitStatus }),
          ...(process.error === undefined ? {} : { error: process.error }),
          stdin: process.stdin,
          startedAt: process.startedAt,
        })),
      };
    },
    containerFile: (handle, path) => {
      const container = store.get(handle);
      return container?.files.read.map((layer) => containerPath(layer, path)).find((hostPath) => existsSync(hostPath));
    },
    close: () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await stopped;
        await store.destroyAll();
        streams.close();
        await rm(join(options.stateDir, 'containers'), { recursive: true, force: true });
        if (address.network === 'unix') await rm(address.address, { force: true });
      })();
      return closing;
    },
  };
}
