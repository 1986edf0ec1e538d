import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteVm, deleteVmArgs } from '../../src/actions/delete-vm';
import { silentLogger } from '../../src/log/logger';
import type { VmTeardown } from '../../src/vms/vm-teardown';

const call = { apiVersion: 2 as const, requestId: 'cpi-1', logger: silentLogger };

describe('delete_vm action', () => {
  it('tears the VM down and answers null; failures carry the VM cid', async () => {
    const deleted: string[] = [];
    const teardown = { deleteVm: async (cid: string) => void deleted.push(cid) } satisfies Pick<VmTeardown, 'deleteVm'>;
    assert.equal(await deleteVm({ teardown }, deleteVmArgs.parse(['vm-1']), call), null);
    assert.deepEqual(deleted, ['vm-1']);
    const failing = { deleteVm: async () => Promise.reject(new Error('umount: busy')) } satisfies Pick<VmTeardown, 'deleteVm'>;
    await assert.rejects(deleteVm({ teardown: failing }, deleteVmArgs.parse(['vm-1']), call), /Deleting VM 'vm-1': umount: busy/);
  });

  it('validates the cid as a plain id before any host path is built', () => {
    for (const bad of ['../x', 'a/b', '', '..']) assert.equal(deleteVmArgs.safeParse([bad]).success, false, bad);
  });
});
