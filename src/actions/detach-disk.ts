import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { Locks } from '../host/file-lock';
import type { DiskAttachments } from '../disks/disk-attachments';
import type { DiskImages } from '../disks/disk-images';
import type { DiskSnapshots } from '../disks/disk-snapshots';
import type { VmFinder } from '../vms/vm-finder';
import type { GuestMounts } from '../vms/guest-mounts';
import { removePersistentDisk, type AgentSettingsUpdater } from '../disks/disk-settings';
import { diskLockName } from '../disks/disk-paths';
import { CloudError, DiskNotAttached, DiskNotFound, VMNotFound, withContext } from '../errors/cpi-errors';

export const detachDiskArgs = z.tuple([plainId, plainId]).rest(z.unknown());

export interface DetachDiskDeps {
  images: Pick<DiskImages, 'exists'>;
  attachments: Pick<DiskAttachments, 'unmount' | 'strayMounts' | 'deviceNumbers'>;
  guestMounts: GuestMounts;
  snapshots: Pick<DiskSnapshots, 'thawLeftover'>;
  vms: Pick<VmFinder, 'find'>;
  settings: AgentSettingsUpdater;
  locks: Locks;
}

/**
 * detach_disk: unmount first (the disk is free once that succeeds), then drop the settings entry. A retry
 * after a crash between the two finds no mount but the entry, and finishes; only neither means "not attached".
 * Mounts of the disk left inside the VM (the agent's bind at /var/vcap/store) are unmounted there. A VM
 * whose container is gone (host state left) is cleaned up: whatever is still mounted is unmounted and the
 * call succeeds. A VM that never existed is VMNotFound.
 */
export async function detachDisk(deps: DetachDiskDeps, [vmCid, diskCid]: z.infer<typeof detachDiskArgs>, call: CallContext): Promise<null> {
  await withContext(`Detaching disk '${diskCid}' from VM '${vmCid}'`, () =>
    deps.locks.withLock(diskLockName(diskCid), async () => {
      await deps.snapshots.thawLeftover(diskCid);
      const state = await deps.vms.find(vmCid);
      if (state === 'never') throw new VMNotFound(`VM '${vmCid}' not found: no such VM`);
      // Unmounted even when the container is gone: a leftover mount would pin the disk forever.
      const wasMounted = await deps.attachments.unmount(vmCid, diskCid);
      // A mount left inside the container (the agent's /var/vcap/store) still writes to the image. The
      // real agent's unmount_disk leaves that one under Garden (docs/real-bosh.md): the disk leaves this VM,
      // so its mounts in this VM go too, as a detached volume vanishes from a real VM. Mounts anywhere
      // else (another container) are not this VM's to remove.
      let stray = await deps.attachments.strayMounts(diskCid);
      if (stray.length > 0 && state === 'present') {
        await deps.guestMounts.unmountDevices(vmCid, await deps.attachments.deviceNumbers(diskCid));
        stray = await deps.attachments.strayMounts(diskCid);
      }
      if (stray.length > 0) {
        throw new CloudError(`Disk '${diskCid}' is still mounted inside a container: ${stray.join(', ')}; unmount it there first`, {
          okToRetry: true,
        });
      }
      if (state === 'gone') {
        // No agent to tell; the VM's settings go with its host state at delete_vm.
        call.logger.info('Detached disk from a VM whose container is gone', { vm: vmCid, disk: diskCid, unmounted: wasMounted });
        return;
      }
      let hadEntry = false;
      await deps.settings.update(vmCid, (settings) => {
        hadEntry = removePersistentDisk(settings, diskCid);
      });
      if (!wasMounted && !hadEntry) {
        if (!(await deps.images.exists(diskCid))) throw new DiskNotFound(`Disk '${diskCid}' not found`);
        throw new DiskNotAttached(`Disk '${diskCid}' is not attached to VM '${vmCid}'`, { okToRetry: false });
      }
      call.logger.info('Detached disk', { vm: vmCid, disk: diskCid, unmounted: wasMounted });
    }),
  );
  return null;
}
