import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setDiskMetadata } from '../../src/actions/set-disk-metadata';
import { DiskNotFound } from '../../src/errors/cpi-errors';
import type { DiskMetadataStore } from '../../src/disks/disk-metadata-store';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('set_disk_metadata', () => {
  it('stores the metadata (integers included) for an existing disk', async () => {
    const written: [string, Record<string, unknown>][] = [];
    const metadata = {
      async write(cid: string, value: Record<string, unknown>) {
        written.push([cid, value]);
      },
    } satisfies Pick<DiskMetadataStore, 'write'>;
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    const value = { director: 'bosh', deployment: 'd', instance_index: 0, attached_at: '2026-01-01' };
    assert.equal(await setDiskMetadata({ ...fakes, metadata }, ['d1', value], call), null);
    assert.deepEqual(written, [['d1', value]]);
    await assert.rejects(setDiskMetadata({ ...fakes, metadata }, ['dx', value], call), DiskNotFound);
  });
});
