import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasVm, hasVmArgs } from '../../src/actions/has-vm';
import type { CallContext } from '../../src/actions/call-context';
import { GardenUnreachable } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import type { VmFinder, VmState } from '../../src/vms/vm-finder';

const call: CallContext = { apiVersion: 2, requestId: 'cpi-1', logger: silentLogger };

describe('has_vm', () => {
  it('is true only when the container is present; an error when Garden cannot tell', async () => {
    const vms = {
      find: async (vm: string): Promise<VmState> => {
        if (vm === 'down') throw new GardenUnreachable('ECONNREFUSED', { route: 'GET', code: 'ECONNREFUSED' });
        return vm === 'vm-1' ? 'present' : vm === 'restarted' ? 'gone' : 'never';
      },
    } satisfies Pick<VmFinder, 'find'>;
    assert.equal(await hasVm({ vms }, hasVmArgs.parse(['vm-1']), call), true);
    assert.equal(await hasVm({ vms }, hasVmArgs.parse(['restarted']), call), false);
    assert.equal(await hasVm({ vms }, hasVmArgs.parse(['never-made']), call), false);
    await assert.rejects(hasVm({ vms }, hasVmArgs.parse(['down']), call), /Checking for VM 'down': .*ECONNREFUSED/);
  });

  it('rejects a cid that is not a plain id', () => {
    assert.equal(hasVmArgs.safeParse(['../etc']).success, false);
  });
});
