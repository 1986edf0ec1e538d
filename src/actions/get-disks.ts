import { z } from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { DiskAttachments } from '../disks/disk-attachments';

export const getDisksArgs = z.tuple([plainId]).rest(z.unknown());

export interface GetDisksDeps {
  attachments: Pick<DiskAttachments, 'disksOf'>;
}

/** get_disks: the disks really loop-mounted under the VM's persistent dir; `[]` when none (never null). */
export async function getDisks(deps: GetDisksDeps, [vmCid]: z.infer<typeof getDisksArgs>, _call: CallContext): Promise<string[]> {
  return deps.attachments.disksOf(vmCid);
}
