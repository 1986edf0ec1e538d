import * as z from 'zod';
import type { CallContext } from './call-context';
import { metadata, plainId } from './shared-schemas';
import type { Locks } from '../host/file-lock';
import type { DiskAttachments } from '../disks/disk-attachments';
import type { DiskImages } from '../disks/disk-images';
import type { DiskSnapshots } from '../disks/disk-snapshots';
import { diskLockName } from '../disks/disk-paths';
import { DiskNotFound, withContext } from '../errors/cpi-errors';

export const snapshotDiskArgs = z.tuple([plainId, metadata]).rest(z.unknown());

export interface SnapshotDiskDeps {
  images: Pick<DiskImages, 'exists'>;
  attachments: Pick<DiskAttachments, 'mountsOf'>;
  snapshots: Pick<DiskSnapshots, 'take' | 'thawLeftover'>;
  locks: Locks;
}

/**
 * snapshot_disk: a copy of the image. An attached disk's filesystem is frozen (fsfreeze) for the copy:
 * the Director snapshots running instances, and a copy of a live ext4 image could be torn.
 */
export async function snapshotDisk(
  deps: SnapshotDiskDeps,
  [diskCid, snapshotMetadata]: z.infer<typeof snapshotDiskArgs>,
  call: CallContext,
): Promise<string> {
  const snapshotCid = await withContext(`Snapshotting disk '${diskCid}'`, () =>
    deps.locks.withLock(diskLockName(diskCid), async () => {
      await deps.snapshots.thawLeftover(diskCid);
      if (!(await deps.images.exists(diskCid))) throw new DiskNotFound(`Disk '${diskCid}' not found`);
      const [mount] = await deps.attachments.mountsOf(diskCid);
      return deps.snapshots.take(diskCid, snapshotMetadata ?? {}, mount?.target ?? null);
    }),
  );
  call.logger.info('Took snapshot', { disk: diskCid, snapshot: snapshotCid });
  return snapshotCid;
}
