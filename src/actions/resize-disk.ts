import * as z from 'zod';
import type { CallContext } from './call-context';
import { diskSizeMb, plainId } from './shared-schemas';
import { growDetachedDisk, type DiskResizeDeps } from '../disks/disk-resize';
import { withContext } from '../errors/cpi-errors';

export const resizeDiskArgs = z.tuple([plainId, diskSizeMb]).rest(z.unknown());

export type ResizeDiskDeps = DiskResizeDeps;

/** resize_disk: grows a detached disk for real; attached or shrinking answers NotSupported (copy fallback). */
export async function resizeDisk(deps: ResizeDiskDeps, [diskCid, newSizeMb]: z.infer<typeof resizeDiskArgs>, call: CallContext): Promise<null> {
  await withContext(`Resizing disk '${diskCid}' to ${newSizeMb} MiB`, () => growDetachedDisk(deps, diskCid, newSizeMb));
  call.logger.info('Resized disk', { disk: diskCid, sizeMb: newSizeMb });
  return null;
}
