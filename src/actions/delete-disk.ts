import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { Locks } from '../host/file-lock';
import type { DiskAttachments } from '../disks/disk-attachments';
import type { DiskImages } from '../disks/disk-images';
import type { DiskSnapshots } from '../disks/disk-snapshots';
import { diskLockName } from '../disks/disk-paths';
import { CloudError, withContext } from '../errors/cpi-errors';

export const deleteDiskArgs = z.tuple([plainId]).rest(z.unknown());

export interface DeleteDiskDeps {
  images: Pick<DiskImages, 'remove'>;
  attachments: Pick<DiskAttachments, 'mountsOf' | 'strayMounts' | 'thawFrozen' | 'assertReleased'>;
  snapshots: Pick<DiskSnapshots, 'thawLeftover'>;
  locks: Locks;
}

/** delete_disk: refused while the image is mounted anywhere; an unknown cid succeeds (already gone). */
export async function deleteDisk(deps: DeleteDiskDeps, [diskCid]: z.infer<typeof deleteDiskArgs>, call: CallContext): Promise<null> {
  await withContext(`Deleting disk '${diskCid}'`, () =>
    deps.locks.withLock(diskLockName(diskCid), async () => {
      await deps.snapshots.thawLeftover(diskCid);
      const [mount] = await deps.attachments.mountsOf(diskCid);
      if (mount !== undefined) {
        const where = mount.vmCid === null ? `mounted at '${mount.target}'` : `attached to VM '${mount.vmCid}'`;
        throw new CloudError(`the disk is still ${where}; detach it first`);
      }
      const stray = await deps.attachments.strayMounts(diskCid);
      if (stray.length > 0) throw new CloudError(`the disk is still mounted inside a container: ${stray.join(', ')}`);
      // A loop device still bound to the image (a filesystem frozen when it was unmounted) would keep the
      // removed image alive as '(deleted)' forever: thaw and release it first, or refuse.
      await deps.attachments.thawFrozen(diskCid);
      await deps.attachments.assertReleased(diskCid);
      await deps.images.remove(diskCid);
    }),
  );
  call.logger.info('Deleted disk', { disk: diskCid });
  return null;
}
