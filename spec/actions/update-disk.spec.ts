import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { updateDisk, updateDiskArgs } from '../../src/actions/update-disk';
import { NotSupported } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('update_disk', () => {
  it('grows in place and returns null (same cid)', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 1024);
    assert.equal(await updateDisk(fakes, ['d1', 4096, { type: 'whatever' }], call), null);
    assert.deepEqual(fakes.calls, ['grow d1 4096']);
  });

  it('answers NotSupported when attached or shrinking', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 1024);
    await assert.rejects(updateDisk(fakes, ['d1', 100, {}], call), NotSupported);
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    await assert.rejects(updateDisk(fakes, ['d1', 4096, {}], call), NotSupported);
  });

  it('needs a disk cid and a size', () => {
    assert.equal(updateDiskArgs.safeParse(['d1']).success, false);
    assert.equal(updateDiskArgs.safeParse(['d1', -1, {}]).success, false);
    assert.equal(updateDiskArgs.safeParse(['d1', 10, null]).success, true);
  });
});
