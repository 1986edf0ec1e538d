import * as z from 'zod';
import type { CallContext } from './call-context';
import { cloudProperties, diskSizeMb, plainId } from './shared-schemas';
import { growDetachedDisk, type DiskResizeDeps } from '../disks/disk-resize';
import { withContext } from '../errors/cpi-errors';

export const updateDiskArgs = z.tuple([plainId, diskSizeMb, cloudProperties]).rest(z.unknown());

export type UpdateDiskDeps = DiskResizeDeps;

/**
 * update_disk: disks here have no types or IOPS to change, so only the size matters: grown in place like
 * resize_disk (NotSupported when attached or shrinking). Returns null: the cid stays the same.
 */
export async function updateDisk(
  deps: UpdateDiskDeps,
  [diskCid, newSizeMb, _cloudProperties]: z.infer<typeof updateDiskArgs>,
  call: CallContext,
): Promise<null> {
  await withContext(`Updating disk '${diskCid}' to ${newSizeMb} MiB`, () => growDetachedDisk(deps, diskCid, newSizeMb));
  call.logger.info('Updated disk', { disk: diskCid, sizeMb: newSizeMb });
  return null;
}
