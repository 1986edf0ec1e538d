import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rebootVm, rebootVmArgs } from '../../src/actions/reboot-vm';
import type { CallContext } from '../../src/actions/call-context';
import { GardenError, type GardenClient, type ProcessSpec } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import type { VmRecord, VmRecords } from '../../src/vms/vm-records';
import { createVmFinder } from '../../src/vms/vm-finder';

const call: CallContext = { apiVersion: 2, requestId: 'cpi-1', logger: silentLogger };

function fakes(record: VmRecord | undefined) {
  const calls: string[] = [];
  const runs: ProcessSpec[] = [];
  const garden = {
    stop: async (handle: string, kill: boolean) => {
      if (handle === 'gone') throw new GardenError('stop: pid not found for container: gone', { route: 'PUT', status: 500 });
      calls.push(`stop ${handle} ${kill}`);
    },
    runDetached: async (handle: string, spec: ProcessSpec) => {
      calls.push(`run ${handle}`);
      runs.push(spec);
      return { processId: 'p', streamId: '1' };
    },
  } satisfies Pick<GardenClient, 'stop' | 'runDetached'>;
  const records = { read: async () => record } satisfies Pick<VmRecords, 'read'>;
  const dirs = {
    state_dir: '/nonexistent/state',
    host_ephemeral_bind_mounts_dir: '/nonexistent/e',
    host_persistent_bind_mounts_dir: '/nonexistent/p',
  };
  const vms = createVmFinder({ garden: { list: async () => Promise.reject(new Error('not asked')) }, dirs });
  return { garden, records, vms, calls, runs };
}

describe('reboot_vm', () => {
  it('stops every process but init, then starts the agent again (runit: runsvdir, keeping logs)', async () => {
    const { garden, records, vms, calls, runs } = fakes({ init: 'runit', agent_id: 'a', ports: false });
    await rebootVm({ garden, records, vms, startContainersWithSystemd: true }, rebootVmArgs.parse(['vm-1']), call);
    assert.deepEqual(calls, ['stop vm-1 false', 'run vm-1']);
    const script = runs[0]?.args?.[1] ?? '';
    assert.match(script, /exec env -i \/usr\/sbin\/runsvdir-start/);
    assert.doesNotMatch(script, /rm -rf/);
  });

  it('systemd VMs get their units started again; the config decides for VMs without a record', async () => {
    const { garden, records, vms, runs } = fakes(undefined);
    await rebootVm({ garden, records, vms, startContainersWithSystemd: true }, rebootVmArgs.parse(['vm-1']), call);
    assert.match(runs[0]?.args?.[1] ?? '', /systemctl isolate default\.target/);
  });

  it('answers VMNotFound for a missing container', async () => {
    const { garden, records, vms } = fakes(undefined);
    await assert.rejects(
      rebootVm({ garden, records, vms, startContainersWithSystemd: false }, rebootVmArgs.parse(['gone']), call),
      (error: Error) => error.constructor.name === 'VMNotFound',
    );
  });
});
