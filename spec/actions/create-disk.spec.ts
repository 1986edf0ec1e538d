import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDisk, createDiskArgs } from '../../src/actions/create-disk';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('create_disk', () => {
  it('creates an image of the requested size and returns its cid; the VM is only a hint', async () => {
    const fakes = diskFakes();
    assert.equal(await createDisk(fakes, [2048, { type: 'ignored' }, 'vm-1'], call), 'disk-1');
    assert.equal(await createDisk(fakes, [10, null, null], call), 'disk-2');
    assert.deepEqual(fakes.calls, ['create 2048', 'create 10']);
  });

  it('accepts what the Director and bosh-cli send, refuses bad sizes and bad VM cids', () => {
    assert.equal(createDiskArgs.safeParse([1024, {}, null]).success, true);
    assert.equal(createDiskArgs.safeParse([1024, {}]).success, true);
    assert.equal(createDiskArgs.safeParse([1024, {}, 'vm', 'extra']).success, true);
    assert.equal(createDiskArgs.safeParse([0, {}, null]).success, false);
    assert.equal(createDiskArgs.safeParse([1.5, {}, null]).success, false);
    assert.equal(createDiskArgs.safeParse(['1024', {}, null]).success, false);
    assert.equal(createDiskArgs.safeParse([1024, {}, '../vm']).success, false);
  });
});
