import { PassThrough, Writable } from 'node:stream';
import type { ExecOptions, ExecResult, GardenClient, GardenClientOptions, ProcessIO } from './garden-client';
import { createGardenConnector } from './garden-connector';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './garden-limits';
import { GardenUnreachable } from './garden-errors';
import { startDetached, streamProcess } from './garden-process';
import type { HijackRequest } from './hijacked-request';
import { type GardenRequest, createJsonTransport, routeOf } from './json-transport';
import { pathSegment } from './url-path';
import { type ProcessSpec, containerInfoSchema, handleSchema, handlesSchema, propertiesSchema } from './garden-wire-schemas';

/** Collects up to `limit` bytes of a process stream; the rest is counted and dropped. */
class CappedBuffer extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const room = this.limit - this.size;
    if (room > 0) this.chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    this.size += chunk.length;
    callback();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function createHttpGardenClient(options: GardenClientOptions): GardenClient {
  const { logger } = options;
  const address = { network: options.network, address: options.address };
  const connector = createGardenConnector(address, options.connectTimeoutMs ?? 5000);
  const transport = createJsonTransport(connector, logger, options.retry, options.timeouts, options.keepAlive ?? false);
  const requestMs = options.timeouts?.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

  // Every value placed in a path is one encoded segment: a handle like 'vm?x=1' can never reach another route.
  const container = (handle: string, rest = '') => `/containers/${pathSegment(handle)}${rest}`;
  const get = (path: string, handle?: string, query?: Record<string, string>): GardenRequest => ({ method: 'GET', path, handle, query });

  const processRequest = (handle: string, spec: ProcessSpec): HijackRequest => {
    const path = container(handle, '/processes');
    // Go always sends rlimits (a struct); keep the body shape the same.
    return { method: 'POST', path, route: `POST ${path}`, handle, body: JSON.stringify({ rlimits: {}, ...spec }), timeoutMs: requestMs };
  };

  const client: GardenClient = {
    address,

    async list(propertyFilters = {}) {
      const query = Object.keys(propertyFilters).length > 0 ? propertyFilters : undefined;
      return (await transport.call(get('/containers', undefined, query), handlesSchema)).Handles;
    },

    async create(spec) {
      const request: GardenRequest = { method: 'POST', path: '/containers', json: spec, handle: spec.handle, long: true };
      return (await transport.call(request, handleSchema)).Handle;
    },

    info: (handle) => transport.call(get(container(handle, '/info'), handle), containerInfoSchema),
    destroy: (handle) => transport.callVoid({ method: 'DELETE', path: container(handle), handle }),
    stop: (handle, kill) => transport.callVoid({ method: 'PUT', path: container(handle, '/stop'), json: { kill }, handle }),

    streamIn: (handle, { destination, user = 'root' }, tar) =>
      transport.putTar({ method: 'PUT', path: container(handle, '/files'), query: { user, destination }, handle, long: true }, tar),

    async streamOut(handle, { source, user = 'root' }) {
      const request: GardenRequest = { ...get(container(handle, '/files'), handle, { user, source }), long: true };
      const body = await transport.getStream(request);
      // Re-emit a cut-short body as GardenUnreachable so consumers see which call failed.
      const out = new PassThrough();
      body.on('error', (error: NodeJS.ErrnoException) => {
        out.destroy(
          new GardenUnreachable(`stream_out body cut short: ${error.message}`, {
            route: routeOf(request),
            handle,
            code: error.code ?? 'ECONNRESET',
            cause: error,
          }),
        );
      });
      out.on('close', () => body.destroy());
      return body.pipe(out);
    },

    properties: (handle) => transport.call(get(container(handle, '/properties'), handle), propertiesSchema),
    setProperty: (handle, key, value) =>
      transport.callVoid({ method: 'PUT', path: container(handle, `/properties/${pathSegment(key)}`), json: { value }, handle }),
    removeProperty: (handle, key) => transport.callVoid({ method: 'DELETE', path: container(handle, `/properties/${pathSegment(key)}`), handle }),

    run: (handle, spec, io: ProcessIO = {}) => streamProcess(connector, logger, handle, processRequest(handle, spec), io),

    runDetached: (handle, spec) => startDetached(connector, processRequest(handle, spec)),

    async exec(handle, spec, execOptions: ExecOptions = {}): Promise<ExecResult> {
      const limit = execOptions.maxOutputBytes ?? 1024 * 1024;
      const stdout = execOptions.stdout === false ? undefined : new CappedBuffer(limit);
      const stderr = execOptions.stderr === false ? undefined : new CappedBuffer(limit);
      const process = await client.run(handle, spec, { stdin: execOptions.stdin, stdout, stderr });
      const exitStatus = await process.wait();
      return { exitStatus, stdout: stdout?.text() ?? '', stderr: stderr?.text() ?? '' };
    },
  };
  return client;
}
