import * as z from 'zod';
import type { CallContext } from './call-context';
import { cloudProperties, diskSizeMb, plainId } from './shared-schemas';
import type { DiskImages } from '../disks/disk-images';

/** `[size_mb, cloud_properties, vm_cid|null]`; the VM is only a placement hint, meaningless on one host. */
export const createDiskArgs = z.tuple([diskSizeMb, cloudProperties, plainId.nullable().optional()]).rest(z.unknown());

export interface CreateDiskDeps {
  images: Pick<DiskImages, 'create'>;
}

/** create_disk: a sparse ext4 image `<disks_dir>/<uuid>` of exactly size_mb MiB; returns its cid. */
export async function createDisk(
  deps: CreateDiskDeps,
  [sizeMb, _cloudProperties, vmCid]: z.infer<typeof createDiskArgs>,
  call: CallContext,
): Promise<string> {
  const diskCid = await deps.images.create(sizeMb);
  call.logger.info('Created disk', { disk: diskCid, sizeMb, vm: vmCid ?? null });
  return diskCid;
}
