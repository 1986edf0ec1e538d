import { totalmem } from 'node:os';
import type { Socket } from 'node:net';
import type { ContainerStore } from './container-store';
import { decodeJson, parseWith } from './json-body';
import { containerInfo, containerMetrics, EMPTY_INFO } from './emulated-container';
import { streamIn, streamOut } from './file-streaming';
import { containerNotFound, serverError } from './garden-error';
import { sortedMap } from './go-json';
import type { HttpRequest, SocketReader } from './http-wire';
import type { NetworkPool } from './network-pool';
import type { ProcessService } from './process-service';
import type { RouteName } from './route-table';
import { netInRequestJson, propertyValueJson, stopRequestJson } from './wire-types';

export type HandlerResult = { status: number; body: unknown } | 'handled' | 'hijacked' | 'drop';

export interface HandlerContext {
  request: HttpRequest;
  params: Record<string, string>;
  socket: Socket;
  reader: SocketReader;
  /** The client asked for `Connection: close`. */
  close: boolean;
}

type Handler = (context: HandlerContext) => Promise<HandlerResult>;

const ok = (body: unknown = {}): HandlerResult => ({ status: 200, body });

/** First host port gdn hands out for NetIn (kawasaki port pool default). */
const FIRST_HOST_PORT = 61001;

/** One function per route, with gdn's answers for unknown handles (docs/garden-wire.md, "Errors"). */
export function createHandlers(deps: { store: ContainerStore; processes: ProcessService; network: NetworkPool }): Record<RouteName, Handler> {
  const { store, processes } = deps;
  let nextHostPort = FIRST_HOST_PORT;
  const handleOf = (context: HandlerContext): string => context.params.handle ?? '';
  const find = (context: HandlerContext) => store.get(handleOf(context));
  const mustFind = (context: HandlerContext) => {
    const container = find(context);
    if (container === undefined) throw containerNotFound(handleOf(context));
    return container;
  };
  const info = (handle: string) => {
    const container = store.get(handle);
    return container ? containerInfo(container, store.containerPath(container)) : undefined;
  };
  const bulk = async (context: HandlerContext, entry: (handle: string) => Record<string, unknown>): Promise<HandlerResult> => {
    const handles = context.request.query.get('handles');
    // gdn indexes the missing param and panics: the connection just drops.
    if (handles === null) return 'drop';
    const list = handles === '' ? [] : handles.split(',');
    return ok(sortedMap(list.map((handle) => [handle, entry(handle)])));
  };
  const bulkError = (handle: string) => ({ Type: '', Message: `unknown handle: ${handle}`, Handle: '', ProcessID: '', Binary: '' });

  return {
    ping: async () => ok(),
    capacity: async () =>
      ok({
        memory_in_bytes: totalmem(),
        disk_in_bytes: 0,
        schedulable_disk_in_bytes: 0,
        max_containers: Math.min(250, deps.network.dynamicSubnetCount()),
      }),
    list: async (context) => ok({ Handles: store.list(context.request.query) }),
    create: async (context) => ok({ Handle: await store.create(decodeJson(context.request.body)) }),
    bulkInfo: (context) =>
      bulk(context, (handle) => {
        const found = info(handle);
        return found ? { Info: found, Err: null } : { Info: EMPTY_INFO, Err: bulkError(handle) };
      }),
    bulkMetrics: (context) =>
      bulk(context, (handle) => {
        const container = store.get(handle);
        return container ? { Metrics: containerMetrics(container), Err: null } : { Metrics: containerMetrics(undefined), Err: bulkError(handle) };
      }),
    info: async (context) => ok(info(mustFind(context).handle)),
    destroy: async (context) => {
      await store.destroy(handleOf(context));
      return ok();
    },
    stop: async (context) => {
      const { kill } = parseWith(stopRequestJson, decodeJson(context.request.body));
      await store.stop(handleOf(context), kill);
      return ok();
    },
    streamIn: async (context) => {
      const container = find(context);
      if (container === undefined) throw serverError('stream-in: pid not found for container');
      await streamIn(container.files, context.request.query.get('destination') ?? '', context.request.body);
      return ok();
    },
    streamOut: async (context) => {
      const container = find(context);
      if (container === undefined) throw serverError('stream-out: pid not found for container');
      await streamOut(context.socket, container.files, context.request.query.get('source') ?? '', context.close);
      return 'handled';
    },
    bandwidthLimits: async () => ok(),
    diskLimits: async () => ok(),
    cpuLimits: async (context) => {
      const cpu = (mustFind(context).parsedSpec.limits?.cpu_limits ?? {}) as Record<string, unknown>;
      const shares = Number(cpu.weight ?? 0) || Number(cpu.limit_in_shares ?? 0);
      return ok(shares > 0 ? { limit_in_shares: shares } : {});
    },
    memoryLimits: async (context) => {
      const memory = (mustFind(context).parsedSpec.limits?.memory_limits ?? {}) as Record<string, unknown>;
      const bytes = Number(memory.limit_in_bytes ?? 0);
      return ok(bytes > 0 ? { limit_in_bytes: bytes } : {});
    },
    netIn: async (context) => {
      const container = find(context);
      if (container === undefined) throw serverError('property not found: kawasaki.host-interface');
      const request = parseWith(netInRequestJson, decodeJson(context.request.body));
      const hostPort = request.host_port === 0 ? nextHostPort++ : request.host_port;
      const containerPort = request.container_port === 0 ? hostPort : request.container_port;
      container.mappedPorts.push({ HostPort: hostPort, ContainerPort: containerPort });
      container.properties.set('garden.network.mapped-ports', JSON.stringify(container.mappedPorts));
      return ok({ host_port: hostPort, container_port: containerPort });
    },
    netOut: async (context) => {
      if (find(context) === undefined) throw serverError('property not found: kawasaki.host-interface');
      decodeJson(context.request.body);
      return ok();
    },
    bulkNetOut: async (context) => {
      if (find(context) === undefined) throw serverError('property not found: kawasaki.host-interface');
      decodeJson(context.request.body);
      return ok();
    },
    run: async (context) => {
      // As gdn: the body is decoded before the container is looked at.
      const body = decodeJson(context.request.body);
      const container = find(context);
      // gdn's containerizer finds no bundle for the handle (measured against gdn).
      if (container === undefined) throw serverError('does not exist');
      const { process, stream } = await processes.run(container, body);
      processes.serveControl(context.socket, context.reader, process, stream, 201);
      return 'hijacked';
    },
    attach: async (context) => {
      const { process, stream } = processes.attach(find(context), context.params.pid ?? '');
      processes.serveControl(context.socket, context.reader, process, stream, 200);
      return 'hijacked';
    },
    attachStdout: async (context) => {
      processes.serveOutput(context.socket, context.params.streamid ?? '', 'stdout');
      return 'hijacked';
    },
    attachStderr: async (context) => {
      processes.serveOutput(context.socket, context.params.streamid ?? '', 'stderr');
      return 'hijacked';
    },
    // The property routes work on any handle, container or not: gdn keeps properties by handle.
    graceTime: async (context) => {
      const value = decodeJson(context.request.body);
      if (typeof value !== 'number') throw serverError('json: cannot unmarshal into Go value of type time.Duration');
      store.propertiesFor(handleOf(context)).set('garden.grace-time', String(value));
      store.touch(handleOf(context));
      return ok();
    },
    properties: async (context) => {
      const properties = store.propertiesOf(handleOf(context));
      return ok(properties ? sortedMap(properties) : null);
    },
    getProperty: async (context) => {
      const key = context.params.key ?? '';
      const value = store.propertiesOf(handleOf(context))?.get(key);
      if (value === undefined) throw serverError(`property does not exist: ${key}`);
      return ok({ value });
    },
    setProperty: async (context) => {
      const { value } = parseWith(propertyValueJson, decodeJson(context.request.body));
      store.propertiesFor(handleOf(context)).set(context.params.key ?? '', value);
      return ok();
    },
    removeProperty: async (context) => {
      store.propertiesOf(handleOf(context))?.delete(context.params.key ?? '');
      return ok();
    },
    metrics: async (context) => {
      const container = find(context);
      if (container === undefined) throw serverError(`container not found: ${handleOf(context)}`);
      return ok(containerMetrics(container));
    },
  };
}
