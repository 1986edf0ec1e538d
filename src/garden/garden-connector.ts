import http from 'node:http';
import net from 'node:net';
import type { GardenAddress } from './garden-client';

/** How to open one fresh connection to Garden (TCP or unix socket), with a connect timeout. */
export interface GardenConnector {
  readonly address: GardenAddress;
  /** net.connect options for this address. */
  readonly netOptions: net.NetConnectOpts;
  /** Opens a socket; rejects with the socket error (code ECONNREFUSED, ENOENT, ETIMEDOUT...). */
  connect(): Promise<net.Socket>;
  /** An http.Agent whose connections get the same connect timeout; with `keepAlive`, idle connections are reused. */
  httpAgent(keepAlive: boolean): http.Agent;
  /** Connections opened so far by this connector (both transports). */
  connectionsOpened(): number;
}

/** Splits "host:port" (also "[v6]:port"); a missing host means 127.0.0.1. */
export function parseTcpAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`Invalid Garden TCP address '${address}': expected host:port`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

function timeoutError(ms: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
}

/** Destroys `socket` if it has not connected within `ms`. */
function armConnectTimeout(socket: net.Socket, ms: number): void {
  if (ms <= 0) return;
  const timer = setTimeout(() => socket.destroy(timeoutError(ms)), ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
}

export function createGardenConnector(address: GardenAddress, connectTimeoutMs: number): GardenConnector {
  const netOptions: net.NetConnectOpts = address.network === 'unix' ? { path: address.address } : parseTcpAddress(address.address);
  let opened = 0;

  const openSocket = (): net.Socket => {
    opened += 1;
    const socket = net.createConnection(netOptions);
    armConnectTimeout(socket, connectTimeoutMs);
    return socket;
  };

  return {
    address,
    netOptions,
    connect() {
      return new Promise((resolve, reject) => {
        const socket = openSocket();
        const onError = (error: Error) => reject(error);
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          resolve(socket);
        });
      });
    },
    httpAgent(keepAlive) {
      // keepAlive false: Node sends "Connection: close" and each request gets its own connection,
      // like Go's client (DisableKeepAlives). True: a request made after another has finished reuses
      // its connection (idle ones are unref'd by the agent, so they never keep the process alive).
      const agent = new http.Agent({ keepAlive });
      agent.createConnection = () => openSocket();
      return agent;
    },
    connectionsOpened: () => opened,
  };
}
