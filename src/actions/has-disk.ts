import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { DiskImages } from '../disks/disk-images';

export const hasDiskArgs = z.tuple([plainId]).rest(z.unknown());

export interface HasDiskDeps {
  images: Pick<DiskImages, 'exists'>;
}

/** has_disk: the image file exists (disks made by the upstream CPI count: same layout). */
export async function hasDisk(deps: HasDiskDeps, [diskCid]: z.infer<typeof hasDiskArgs>, _call: CallContext): Promise<boolean> {
  return deps.images.exists(diskCid);
}
