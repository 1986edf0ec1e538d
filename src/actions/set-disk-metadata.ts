import * as z from 'zod';
import type { CallContext } from './call-context';
import { metadata, plainId } from './shared-schemas';
import type { DiskImages } from '../disks/disk-images';
import type { DiskMetadataStore } from '../disks/disk-metadata-store';
import { DiskNotFound } from '../errors/cpi-errors';

export const setDiskMetadataArgs = z.tuple([plainId, metadata]).rest(z.unknown());

export interface SetDiskMetadataDeps {
  images: Pick<DiskImages, 'exists'>;
  metadata: Pick<DiskMetadataStore, 'write'>;
}

/** set_disk_metadata: kept at `<state_dir>/disks/<cid>/metadata.json` (disks_dir holds only images). */
export async function setDiskMetadata(
  deps: SetDiskMetadataDeps,
  [diskCid, diskMetadata]: z.infer<typeof setDiskMetadataArgs>,
  _call: CallContext,
): Promise<null> {
  if (!(await deps.images.exists(diskCid))) throw new DiskNotFound(`Disk '${diskCid}' not found`);
  await deps.metadata.write(diskCid, diskMetadata ?? {});
  return null;
}
