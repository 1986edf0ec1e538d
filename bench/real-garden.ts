import { createServer, connect, type Server, type Socket } from 'node:net';
import { median } from './bench-utils';
import type { VmLifecycleBench } from './vm-lifecycle';
import { busyboxStemcell } from '../testkit/busybox-stemcell';
import { startCpiEnvironment } from '../testkit/cpi-environment';
import { NO_LEAKS } from '../testkit/leak-checker';

/** The emulator benchmark's numbers, plus has_vm's connections (gdn cannot count them itself). */
export interface RealGardenBench extends VmLifecycleBench {
  connectionsPerHasVm: number;
}

/**
 * A TCP relay in front of gdn that counts the connections the CPI opens (gdn itself cannot tell us).
 * Returns its address and a counter; close() ends every relayed connection.
 */
async function countingRelay(target: string): Promise<{ address: string; count: () => number; close: () => Promise<void> }> {
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon);
  const port = Number(target.slice(colon + 1));
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections += 1;
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('relay has no TCP address');
  return {
    address: `127.0.0.1:${bound.port}`,
    count: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const NETWORK = {
  default: {
    type: 'manual',
    ip: '10.244.2.10',
    netmask: '255.255.255.0',
    gateway: '10.244.2.1',
    dns: ['8.8.8.8'],
    default: ['dns', 'gateway'],
    cloud_properties: {},
  },
};

/**
 * create_vm / has_vm / delete_vm through dist/cpi.js against a real gdn (`address`, host:port), expand
 * mode (each VM a raw:// overlay root over the busybox stemcell), with the Garden connections of each call
 * counted by a relay. Tar mode needs an image plugin, which the test gdn does not have.
 */
export async function benchRealGarden(address: string, runs = 9): Promise<RealGardenBench> {
  const relay = await countingRelay(address);
  const env = await startCpiEnvironment({ garden: { kind: 'real', network: 'tcp', address: relay.address } });
  try {
    const stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
    const create: number[] = [];
    const has: number[] = [];
    const remove: number[] = [];
    const connections = { create: [] as number[], has: [] as number[], remove: [] as number[] };
    const timed = async <T>(times: number[], counts: number[], call: () => Promise<T>): Promise<T> => {
      const before = relay.count();
      const started = process.hrtime.bigint();
      const result = await call();
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      counts.push(relay.count() - before);
      return result;
    };
    for (let i = 0; i < runs; i += 1) {
      const [vm] = await timed(create, connections.create, () => env.ok<[string]>('create_vm', [`agent-${i}`, stemcellCid, {}, NETWORK, [], {}]));
      await timed(has, connections.has, () => env.ok('has_vm', [vm]));
      await timed(remove, connections.remove, () => env.ok('delete_vm', [vm]));
    }
    await env.ok('delete_stemcell', [stemcellCid]);
    const leaks = await env.leaks();
    if (JSON.stringify(leaks) !== JSON.stringify(NO_LEAKS)) throw new Error(`the benchmark leaked: ${JSON.stringify(leaks)}`);
    return {
      runs,
      createMedianMs: median(create),
      deleteMedianMs: median(remove),
      hasVmMedianMs: median(has),
      connectionsPerCreate: median(connections.create),
      connectionsPerDelete: median(connections.remove),
      connectionsPerHasVm: median(connections.has),
    };
  } finally {
    await env.close();
    await relay.close();
  }
}

export function printRealGarden(result: RealGardenBench): void {
  console.log(`## VM lifecycle through dist/cpi.js against a real gdn, expand mode (raw:// overlay root), ${result.runs} runs`);
  console.log(`create_vm : median ${result.createMedianMs.toFixed(1)} ms, ${result.connectionsPerCreate} Garden connections`);
  console.log(`has_vm    : median ${result.hasVmMedianMs.toFixed(1)} ms, ${result.connectionsPerHasVm} Garden connection`);
  console.log(`delete_vm : median ${result.deleteMedianMs.toFixed(1)} ms, ${result.connectionsPerDelete} Garden connection`);
  console.log('tar mode  : not measured (needs an image plugin such as grootfs, which cannot run on this kernel)');
}

if (require.main === module) {
  const address = process.env.GARDEN_REAL_ADDRESS ?? '';
  if (address === '') {
    console.error('set GARDEN_REAL_ADDRESS=host:port (scripts/real-garden.sh start prints it)');
    process.exit(2);
  }
  void benchRealGarden(address).then(printRealGarden, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
