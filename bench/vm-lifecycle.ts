import { median } from './bench-utils';
import { MANUAL_NETWORK, RUNIT_STEMCELL, startVmFixture } from '../spec/vms/vm-fixture';

export interface VmLifecycleBench {
  runs: number;
  createMedianMs: number;
  deleteMedianMs: number;
  /** `has_vm` through the same bundle: the per-process floor (node start-up, config, one Garden request). */
  hasVmMedianMs: number;
  connectionsPerCreate: number;
  connectionsPerDelete: number;
}

/**
 * create_vm / delete_vm wall time through dist/cpi.js against the Garden emulator (scripted), with real
 * bind mounts, and the Garden connections each call opens. Upstream: ~11 Garden requests and ~1.1 s per
 * create_vm on gdn (DESIGN.md); the emulator's own cost is near zero, so this measures the CPI.
 */
export async function benchVmLifecycle(runs = 15): Promise<VmLifecycleBench> {
  const fx = await startVmFixture();
  try {
    const create: number[] = [];
    const remove: number[] = [];
    const has: number[] = [];
    const createConnections: number[] = [];
    const deleteConnections: number[] = [];
    for (let i = 0; i < runs; i += 1) {
      let connections = fx.emulator.connectionCount();
      let started = process.hrtime.bigint();
      const created = await fx.call('create_vm', [`agent-${i}`, RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
      create.push(Number(process.hrtime.bigint() - started) / 1e6);
      createConnections.push(fx.emulator.connectionCount() - connections);
      if (created.response.error) throw new Error(`create_vm failed: ${created.response.error.message}`);
      const [cid] = created.response.result as [string];

      started = process.hrtime.bigint();
      await fx.call('has_vm', [cid]);
      has.push(Number(process.hrtime.bigint() - started) / 1e6);

      connections = fx.emulator.connectionCount();
      started = process.hrtime.bigint();
      const deleted = await fx.call('delete_vm', [cid]);
      remove.push(Number(process.hrtime.bigint() - started) / 1e6);
      deleteConnections.push(fx.emulator.connectionCount() - connections);
      if (deleted.response.error) throw new Error(`delete_vm failed: ${deleted.response.error.message}`);
    }
    return {
      runs,
      createMedianMs: median(create),
      deleteMedianMs: median(remove),
      hasVmMedianMs: median(has),
      connectionsPerCreate: median(createConnections),
      connectionsPerDelete: median(deleteConnections),
    };
  } finally {
    await fx.close();
  }
}

if (require.main === module) {
  void benchVmLifecycle().then((r) => {
    console.log(`create_vm median ${r.createMedianMs.toFixed(1)} ms (${r.connectionsPerCreate} Garden connections)`);
    console.log(`delete_vm median ${r.deleteMedianMs.toFixed(1)} ms (${r.connectionsPerDelete} Garden connection)`);
    console.log(`has_vm    median ${r.hasVmMedianMs.toFixed(1)} ms (per-call floor); create/has ${(r.createMedianMs / r.hasVmMedianMs).toFixed(2)}x`);
  });
}
