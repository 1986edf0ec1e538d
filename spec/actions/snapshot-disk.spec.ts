import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotDisk, snapshotDiskArgs } from '../../src/actions/snapshot-disk';
import { DiskNotFound } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('snapshot_disk', () => {
  it('copies a detached disk without freezing, and an attached one frozen at its host mount', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    assert.match(await snapshotDisk(fakes, ['d1', { index: 2, deployment: 'x' }], call), /^snap-/);
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    await snapshotDisk(fakes, ['d1', null], call);
    assert.deepEqual(fakes.calls, ['snapshot d1 {"index":2,"deployment":"x"} null', 'snapshot d1 {} /pbm/vm-1/d1']);
    assert.deepEqual(fakes.lockNames, ['disk-d1', 'disk-d1']);
  });

  it('answers DiskNotFound for an unknown disk; integer metadata values parse', async () => {
    await assert.rejects(snapshotDisk(diskFakes(), ['dx', {}], call), DiskNotFound);
    assert.equal(snapshotDiskArgs.safeParse(['d1', { index: 0, nested: { a: 1 } }]).success, true);
  });
});
