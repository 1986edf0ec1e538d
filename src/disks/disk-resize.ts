import type { Locks } from '../host/file-lock';
import { DiskNotFound, NotSupported } from '../errors/cpi-errors';
import type { DiskAttachments } from './disk-attachments';
import type { DiskImages } from './disk-images';
import { diskLockName } from './disk-paths';

export interface DiskResizeDeps {
  images: Pick<DiskImages, 'exists' | 'grow'>;
  attachments: Pick<DiskAttachments, 'mountsOf' | 'strayMounts'>;
  locks: Locks;
}

/**
 * Grows a detached disk in place (resize_disk, update_disk). An attached disk or a smaller size answers
 * NotSupported, on which the Director falls back to creating a new disk and copying the data.
 */
export async function growDetachedDisk(deps: DiskResizeDeps, diskCid: string, sizeMb: number): Promise<void> {
  await deps.locks.withLock(diskLockName(diskCid), async () => {
    if (!(await deps.images.exists(diskCid))) throw new DiskNotFound(`Disk '${diskCid}' not found`);
    const mounts = await deps.attachments.mountsOf(diskCid);
    if (mounts.length > 0) {
      const where = mounts[0]!.vmCid === null ? `mounted at '${mounts[0]!.target}'` : `attached to VM '${mounts[0]!.vmCid}'`;
      throw new NotSupported(`Resizing disk '${diskCid}' while it is ${where} is not supported`);
    }
    const stray = await deps.attachments.strayMounts(diskCid);
    if (stray.length > 0)
      throw new NotSupported(`Resizing disk '${diskCid}' while it is mounted in a container (${stray.join(', ')}) is not supported`);
    await deps.images.grow(diskCid, sizeMb);
  });
}
