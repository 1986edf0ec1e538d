import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteVm, deleteVmArgs } from '../../src/actions/delete-vm';
import { silentLogger } from '../../src/log/logger';
import type { VmTeardown } from '../../src/vms/vm-teardown';
import type { Locks } from '../../src/host/file-lock';

const noDisks = { disksOf: async () => [], thawFrozen: async () => undefined, assertReleased: async () => undefined };
const locks: Locks = { withLock: (_name, work) => work() };

const call = { apiVersion: 2 as const, requestId: 'cpi-1', logger: silentLogger };

describe('delete_vm action', () => {
  it('tears the VM down and answers null; failures carry the VM cid', async () => {
    const deleted: string[] = [];
    const teardown = { deleteVm: async (cid: string) => void deleted.push(cid) } satisfies Pick<VmTeardown, 'deleteVm'>;
    assert.equal(await deleteVm({ teardown, attachments: noDisks, locks }, deleteVmArgs.parse(['vm-1']), call), null);
    assert.deepEqual(deleted, ['vm-1']);
    const failing = { deleteVm: async () => Promise.reject(new Error('umount: busy')) } satisfies Pick<VmTeardown, 'deleteVm'>;
    await assert.rejects(
      deleteVm({ teardown: failing, attachments: noDisks, locks }, deleteVmArgs.parse(['vm-1']), call),
      /Deleting VM 'vm-1': umount: busy/,
    );
  });

  it('takes the lock of every attached disk, thaws before the teardown and checks the release after', async () => {
    const events: string[] = [];
    const attachments = {
      disksOf: async () => ['disk-b', 'disk-a'],
      thawFrozen: async (disk: string) => void events.push(`thaw ${disk}`),
      assertReleased: async (disk: string) => void events.push(`released ${disk}`),
    };
    const recording: Locks = {
      withLock: async (name, work) => {
        events.push(`lock ${name}`);
        try {
          return await work();
        } finally {
          events.push(`unlock ${name}`);
        }
      },
    };
    const teardown = { deleteVm: async (cid: string) => void events.push(`teardown ${cid}`) };
    await deleteVm({ teardown, attachments, locks: recording }, deleteVmArgs.parse(['vm-1']), call);
    assert.deepEqual(events, [
      'lock disk-disk-a',
      'lock disk-disk-b',
      'thaw disk-a',
      'thaw disk-b',
      'teardown vm-1',
      'released disk-a',
      'released disk-b',
      'unlock disk-disk-b',
      'unlock disk-disk-a',
    ]);
  });

  it('validates the cid as a plain id before any host path is built', () => {
    for (const bad of ['../x', 'a/b', '', '..']) assert.equal(deleteVmArgs.safeParse([bad]).success, false, bad);
  });
});
