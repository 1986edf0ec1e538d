import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { Locks } from '../host/file-lock';
import type { DiskAttachments } from '../disks/disk-attachments';
import type { DiskImages } from '../disks/disk-images';
import type { DiskSnapshots } from '../disks/disk-snapshots';
import type { VmFinder } from '../vms/vm-finder';
import { addPersistentDisk, type AgentSettingsUpdater } from '../disks/disk-settings';
import { diskLockName } from '../disks/disk-paths';
import { CloudError, DiskNotFound, withContext } from '../errors/cpi-errors';

export const attachDiskArgs = z.tuple([plainId, plainId]).rest(z.unknown());

export interface AttachDiskDeps {
  images: Pick<DiskImages, 'exists'>;
  attachments: Pick<DiskAttachments, 'mountsOf' | 'mount' | 'unmount' | 'strayMounts'>;
  snapshots: Pick<DiskSnapshots, 'thawLeftover'>;
  /** Garden decides whether the VM exists: a disk mounted for a container that is gone is seen by nobody. */
  vms: Pick<VmFinder, 'requirePresent'>;
  settings: AgentSettingsUpdater;
  locks: Locks;
  /** `/warden-cpi-dev/<disk>`: where the mount shows inside the container. */
  guestPath: (diskCid: string) => string;
}

/**
 * attach_disk: loop-mount under the VM's shared persistent dir, record it in the agent settings. Only a VM
 * whose container Garden has (VMNotFound otherwise, before anything is mounted).
 */
export async function attachDisk(deps: AttachDiskDeps, [vmCid, diskCid]: z.infer<typeof attachDiskArgs>, call: CallContext): Promise<string | null> {
  const hint = deps.guestPath(diskCid);
  await withContext(`Attaching disk '${diskCid}' to VM '${vmCid}'`, () =>
    deps.locks.withLock(diskLockName(diskCid), async () => {
      await deps.snapshots.thawLeftover(diskCid);
      await deps.vms.requirePresent(vmCid);
      if (!(await deps.images.exists(diskCid))) throw new DiskNotFound(`Disk '${diskCid}' not found`);
      const mounts = await deps.attachments.mountsOf(diskCid);
      const here = mounts.some((mount) => mount.vmCid === vmCid);
      const other = mounts.find((mount) => mount.vmCid !== vmCid);
      if (other !== undefined && (other.vmCid !== null || !here)) {
        throw new CloudError(
          `Disk '${diskCid}' is already ${other.vmCid === null ? `mounted at '${other.target}'` : `attached to VM '${other.vmCid}'`}`,
        );
      }
      // Two mounts of one ext4 image would corrupt it, and a container may still hold it after a detach.
      const stray = here ? [] : await deps.attachments.strayMounts(diskCid);
      if (stray.length > 0) throw new CloudError(`Disk '${diskCid}' is still mounted in another namespace: ${stray.join(', ')}`);
      if (!here) await deps.attachments.mount(vmCid, diskCid);
      try {
        await deps.settings.update(vmCid, (settings) => addPersistentDisk(settings, diskCid, hint));
      } catch (error) {
        // Leave no mount the settings do not know about; a retried attach starts clean.
        if (!here) await deps.attachments.unmount(vmCid, diskCid).catch(() => undefined);
        throw error;
      }
      call.logger.info(here ? 'Disk was already attached' : 'Attached disk', { vm: vmCid, disk: diskCid, hint });
    }),
  );
  return call.apiVersion === 2 ? hint : null;
}
