import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resizeDisk } from '../../src/actions/resize-disk';
import { DiskNotFound, NotSupported } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('resize_disk', () => {
  it('grows a detached disk under its lock', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 1024);
    assert.equal(await resizeDisk(fakes, ['d1', 2048], call), null);
    assert.deepEqual(fakes.calls, ['grow d1 2048']);
    assert.deepEqual(fakes.lockNames, ['disk-d1']);
  });

  it('answers NotSupported for an attached disk or a smaller size (the Director then copies)', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 1024);
    await assert.rejects(resizeDisk(fakes, ['d1', 512], call), NotSupported);
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    await assert.rejects(resizeDisk(fakes, ['d1', 2048], call), (error: Error) => {
      assert.ok(error instanceof NotSupported);
      assert.equal(error.boshType, 'Bosh::Clouds::NotSupported');
      assert.match(error.message, /while it is attached to VM 'vm-1'/);
      return true;
    });
    assert.deepEqual(fakes.calls, []);
  });

  it('answers NotSupported while a container still has the disk mounted', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 1024);
    fakes.attachments.stray.set('d1', ["pid 9 at '/var/vcap/store'"]);
    await assert.rejects(resizeDisk(fakes, ['d1', 2048], call), NotSupported);
    assert.deepEqual(fakes.calls, []);
  });

  it('answers DiskNotFound for an unknown disk', async () => {
    await assert.rejects(resizeDisk(diskFakes(), ['dx', 2048], call), DiskNotFound);
  });
});
