import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasDisk, hasDiskArgs } from '../../src/actions/has-disk';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('has_disk', () => {
  it('is true for an existing image and false otherwise', async () => {
    const fakes = diskFakes();
    fakes.disks.set('d1', 10);
    assert.equal(await hasDisk(fakes, ['d1'], call), true);
    assert.equal(await hasDisk(fakes, ['d2'], call), false);
    assert.equal(hasDiskArgs.safeParse(['../d']).success, false);
  });
});
