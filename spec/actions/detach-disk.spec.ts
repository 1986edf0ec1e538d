import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attachDisk } from '../../src/actions/attach-disk';
import { detachDisk, detachDiskArgs } from '../../src/actions/detach-disk';
import { CloudError, DiskNotAttached, DiskNotFound, VMNotFound } from '../../src/errors/cpi-errors';
import { call } from '../disks/disk-fixture';
import { diskFakes } from './disk-fakes';

async function attached() {
  const fakes = diskFakes();
  fakes.vmSet.add('vm-1');
  fakes.disks.set('d1', 1024);
  await attachDisk(fakes, ['vm-1', 'd1'], call);
  fakes.calls.length = 0;
  return fakes;
}

describe('detach_disk', () => {
  it('unmounts, then removes the settings entry', async () => {
    const fakes = await attached();
    assert.equal(await detachDisk(fakes, ['vm-1', 'd1'], call), null);
    assert.deepEqual(fakes.calls, ['unmount vm-1 d1 true']);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: {} } });
    assert.deepEqual(fakes.lockNames, ['disk-d1', 'disk-d1']);
  });

  it('answers DiskNotAttached (ok_to_retry false) when the disk is neither mounted nor recorded', async () => {
    const fakes = await attached();
    await detachDisk(fakes, ['vm-1', 'd1'], call);
    await assert.rejects(detachDisk(fakes, ['vm-1', 'd1'], call), (error: Error) => {
      assert.ok(error instanceof DiskNotAttached);
      assert.equal(error.okToRetry, false);
      assert.equal(error.boshType, 'Bosh::Clouds::DiskNotAttached');
      return true;
    });
  });

  it('finishes a detach that died after the unmount (entry still recorded)', async () => {
    const fakes = await attached();
    fakes.settings.failNext = new Error('killed');
    await assert.rejects(detachDisk(fakes, ['vm-1', 'd1'], call), /killed/);
    assert.deepEqual(fakes.mounts.get('d1'), []);
    await detachDisk(fakes, ['vm-1', 'd1'], call);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: {} } });
  });

  it('still unmounts a disk from a VM whose container is gone, without touching settings, and succeeds', async () => {
    const fakes = await attached();
    fakes.vmSet.delete('vm-1');
    fakes.goneSet.add('vm-1');
    fakes.settings.failNext = new Error('must not be called');
    await detachDisk(fakes, ['vm-1', 'd1'], call);
    assert.deepEqual(fakes.calls, ['unmount vm-1 d1 true']);
    // Nothing left to clean: still a success (clean-up of a VM that is gone).
    await detachDisk(fakes, ['vm-1', 'd1'], call);
    assert.deepEqual(fakes.calls, ['unmount vm-1 d1 true', 'unmount vm-1 d1 false']);
  });

  it('answers VMNotFound for a VM that never existed (nothing touched), DiskNotFound for an unknown disk', async () => {
    const fakes = await attached();
    await assert.rejects(detachDisk(fakes, ['vm-x', 'd1'], call), VMNotFound);
    assert.deepEqual(fakes.calls, []);
    await assert.rejects(detachDisk(fakes, ['vm-1', 'dx'], call), DiskNotFound);
  });

  it('passes a busy unmount failure on with context, leaving the settings entry', async () => {
    const fakes = await attached();
    fakes.attachments.unmountError = new CloudError("'/pbm/vm-1/d1' is still busy after 10 unmount attempts; held by: pid 7 (sleep)", {
      okToRetry: true,
    });
    await assert.rejects(detachDisk(fakes, ['vm-1', 'd1'], call), (error: Error) => {
      assert.match(error.message, /^Detaching disk 'd1' from VM 'vm-1': .*still busy.*pid 7 \(sleep\)/);
      assert.equal((error as CloudError).okToRetry, true);
      return true;
    });
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: { d1: '/warden-cpi-dev/d1' } } });
  });

  it('unmounts inside the VM what the agent left mounted there (its bind at /var/vcap/store), then finishes', async () => {
    const fakes = await attached();
    fakes.attachments.stray.set('d1', ["pid 42 at '/var/vcap/store'"]);
    fakes.attachments.strayVm.set('d1', 'vm-1');
    assert.equal(await detachDisk(fakes, ['vm-1', 'd1'], call), null);
    assert.deepEqual(fakes.calls, ['unmount vm-1 d1 true', 'guest-unmount vm-1 7:5']);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: {} } });
  });

  it('fails (retryable) while another container has the disk mounted, and a retry then finishes', async () => {
    const fakes = await attached();
    fakes.attachments.stray.set('d1', ["pid 42 at '/var/vcap/store'"]);
    await assert.rejects(detachDisk(fakes, ['vm-1', 'd1'], call), (error: Error) => {
      assert.match(error.message, /still mounted inside a container: pid 42 at '\/var\/vcap\/store'; unmount it there first/);
      assert.equal((error as CloudError).okToRetry, true);
      return true;
    });
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: { d1: '/warden-cpi-dev/d1' } } });
    fakes.attachments.stray.delete('d1');
    await detachDisk(fakes, ['vm-1', 'd1'], call);
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: {} } });
  });

  it('passes on an unmount inside the VM that fails (busy), keeping the settings entry for the retry', async () => {
    const fakes = await attached();
    fakes.attachments.stray.set('d1', ["pid 42 at '/var/vcap/store'"]);
    fakes.attachments.strayVm.set('d1', 'vm-1');
    fakes.guestMounts.error = new CloudError("Unmounting '/var/vcap/store' inside VM 'vm-1' failed: target is busy", { okToRetry: true });
    await assert.rejects(detachDisk(fakes, ['vm-1', 'd1'], call), (error: Error) => {
      assert.match(error.message, /^Detaching disk 'd1' from VM 'vm-1': Unmounting '\/var\/vcap\/store' inside VM 'vm-1' failed: target is busy/);
      assert.equal((error as CloudError).okToRetry, true);
      return true;
    });
    assert.deepEqual(fakes.settings.byVm.get('vm-1'), { disks: { persistent: { d1: '/warden-cpi-dev/d1' } } });
  });

  it('validates both cids', () => {
    assert.equal(detachDiskArgs.safeParse(['vm', '..']).success, false);
    assert.equal(detachDiskArgs.safeParse(['vm/x', 'd']).success, false);
  });
});
