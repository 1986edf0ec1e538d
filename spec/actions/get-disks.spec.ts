import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getDisks } from '../../src/actions/get-disks';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

describe('get_disks', () => {
  it('lists the disks mounted for the VM, [] when none', async () => {
    const fakes = diskFakes();
    fakes.vmSet.add('vm-1').add('vm-3');
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    fakes.mounts.set('d2', [{ target: '/pbm/vm-2/d2', vmCid: 'vm-2' }]);
    assert.deepEqual(await getDisks(fakes, ['vm-1'], call), ['d1']);
    assert.deepEqual(await getDisks(fakes, ['vm-3'], call), []);
  });

  it('lists the disks mounted for a VM whose container is gone (the host decides, Garden is not asked), [] for an unknown VM', async () => {
    const fakes = diskFakes();
    fakes.goneSet.add('vm-1');
    fakes.mounts.set('d1', [{ target: '/pbm/vm-1/d1', vmCid: 'vm-1' }]);
    assert.deepEqual(await getDisks(fakes, ['vm-1'], call), ['d1']);
    assert.deepEqual(await getDisks(fakes, ['vm-x'], call), []);
  });
});
