import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteDisk } from '../../src/actions/delete-disk';
import { CloudError } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('delete_disk', () => {
  it('removes a detached disk under its lock', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    assert.equal(await deleteDisk(fakes, ['d1'], call), null);
    assert.deepEqual(fakes.calls, ['thaw-frozen d1', 'released? d1', 'remove d1']);
    assert.deepEqual(fakes.lockNames, ['disk-d1']);
  });

  it('refuses while the disk is attached, naming the VM', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    await assert.rejects(deleteDisk(fakes, ['d1'], call), (error: Error) => {
      assert.ok(error instanceof CloudError);
      assert.equal(error.message, "Deleting disk 'd1': the disk is still attached to VM 'vm-1'; detach it first");
      return true;
    });
    assert.equal(fakes.disks.has('d1'), true);
  });

  it('refuses while a container still has the disk mounted', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    fakes.attachments.stray.set('d1', ["pid 9 at '/var/vcap/store'"]);
    await assert.rejects(deleteDisk(fakes, ['d1'], call), /still mounted inside a container: pid 9/);
    assert.equal(fakes.disks.has('d1'), true);
  });

  it('succeeds for an unknown cid', async () => {
    const fakes = diskFakes();
    assert.equal(await deleteDisk(fakes, ['nope'], call), null);
  });
});
