import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteSnapshot, deleteSnapshotArgs } from '../../src/actions/delete-snapshot';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('delete_snapshot', () => {
  it('removes the snapshot (the service makes unknown cids a no-op)', async () => {
    const fakes = diskFakes();
    assert.equal(await deleteSnapshot(fakes, ['s1'], call), null);
    assert.deepEqual(fakes.calls, ['remove-snapshot s1']);
    assert.equal(deleteSnapshotArgs.safeParse(['../s']).success, false);
  });
});
