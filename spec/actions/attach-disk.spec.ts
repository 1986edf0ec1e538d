import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attachDisk, attachDiskArgs } from '../../src/actions/attach-disk';
import { CloudError, DiskNotFound, VMNotFound } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

function setup() {
  const fakes = diskFakes();
  fakes.vmSet.add('vm-1').add('vm-2');
  fakes.disks.set('d1', 1024);
  return fakes;
}

describe('attach_disk', () => {
  it('mounts the disk, records it in the agent settings and returns the guest path (v2)', async () => {
    const fakes = setup();
    assert.equal(await attachDisk(fakes, ['vm-1', 'd1'], call), '/warden-cpi-dev/d1');
    assert.deepEqual(fakes.calls, ['mount vm-1 d1']);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: { d1: '/warden-cpi-dev/d1' } } });
    assert.deepEqual(fakes.lockNames, ['disk-d1']);
    assert.deepEqual(fakes.thawed, ['d1']);
  });

  it('returns null under API v1', async () => {
    const fakes = setup();
    assert.equal(await attachDisk(fakes, ['vm-1', 'd1'], { ...call, apiVersion: 1 }), null);
    assert.deepEqual(fakes.calls, ['mount vm-1 d1']);
  });

  it('is idempotent for the same VM: same hint, no second mount', async () => {
    const fakes = setup();
    await attachDisk(fakes, ['vm-1', 'd1'], call);
    assert.equal(await attachDisk(fakes, ['vm-1', 'd1'], call), '/warden-cpi-dev/d1');
    assert.deepEqual(fakes.calls, ['mount vm-1 d1']);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: { d1: '/warden-cpi-dev/d1' } } });
  });

  it('refuses a disk attached to another VM, naming it', async () => {
    const fakes = setup();
    await attachDisk(fakes, ['vm-1', 'd1'], call);
    await assert.rejects(attachDisk(fakes, ['vm-2', 'd1'], call), (error: Error) => {
      assert.ok(error instanceof CloudError);
      assert.equal(error.message, "Attaching disk 'd1' to VM 'vm-2': Disk 'd1' is already attached to VM 'vm-1'");
      return true;
    });
    assert.deepEqual(fakes.calls, ['mount vm-1 d1']);
    assert.equal(fakes.settings.byVm.get('vm-2'), undefined);
  });

  it('refuses a disk mounted somewhere else on the host', async () => {
    const fakes = setup();
    fakes.mounts.set('d1', [{ target: '/mnt/x', vmCid: null }]);
    await assert.rejects(attachDisk(fakes, ['vm-1', 'd1'], call), /already mounted at '\/mnt\/x'/);
    assert.deepEqual(fakes.calls, []);
  });

  it('refuses a disk that a container still has mounted although the host has not', async () => {
    const fakes = setup();
    fakes.attachments.stray.set('d1', ["pid 42 at '/var/vcap/store'"]);
    await assert.rejects(attachDisk(fakes, ['vm-1', 'd1'], call), /still mounted in another namespace: pid 42 at '\/var\/vcap\/store'/);
    assert.deepEqual(fakes.calls, []);
  });

  it('answers VMNotFound, mounting nothing, for a VM whose container is gone', async () => {
    const fakes = setup();
    fakes.vmSet.delete('vm-1');
    fakes.goneSet.add('vm-1');
    await assert.rejects(attachDisk(fakes, ['vm-1', 'd1'], call), VMNotFound);
    assert.deepEqual(fakes.calls, []);
    assert.equal(fakes.settings.byVm.get('vm-1'), undefined);
  });

  it('answers VMNotFound for an unknown VM and DiskNotFound for an unknown disk', async () => {
    const fakes = setup();
    await assert.rejects(attachDisk(fakes, ['vm-x', 'd1'], call), VMNotFound);
    await assert.rejects(attachDisk(fakes, ['vm-1', 'dx'], call), DiskNotFound);
    assert.deepEqual(fakes.calls, []);
  });

  it('undoes the mount when the settings update fails', async () => {
    const fakes = setup();
    fakes.settings.failNext = new Error('container gone');
    await assert.rejects(attachDisk(fakes, ['vm-1', 'd1'], call), /Attaching disk 'd1' to VM 'vm-1': container gone/);
    assert.deepEqual(fakes.calls, ['mount vm-1 d1', 'unmount vm-1 d1 true']);
    assert.deepEqual(fakes.mounts.get('d1'), []);
  });

  it('rejects cids that are not plain ids before anything touches a path', () => {
    assert.equal(attachDiskArgs.safeParse(['../vm', 'd1']).success, false);
    assert.equal(attachDiskArgs.safeParse(['vm', 'a/b']).success, false);
    assert.equal(attachDiskArgs.safeParse(['vm', 'd1', 'extra']).success, true);
  });
});
