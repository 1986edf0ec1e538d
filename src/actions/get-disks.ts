import { z } from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { DiskAttachments } from '../disks/disk-attachments';
import type { VmFinder } from '../vms/vm-finder';

export const getDisksArgs = z.tuple([plainId]).rest(z.unknown());

export interface GetDisksDeps {
  attachments: Pick<DiskAttachments, 'disksOf'>;
  vms: Pick<VmFinder, 'find'>;
}

/**
 * get_disks: the disks really loop-mounted under the VM's persistent dir; `[]` when none (never null), and
 * `[]` when Garden has no container for the VM (a mount left by a container that is gone serves nobody).
 */
export async function getDisks(deps: GetDisksDeps, [vmCid]: z.infer<typeof getDisksArgs>, _call: CallContext): Promise<string[]> {
  return withContext(`Listing disks of VM '${vmCid}'`, async () =>
    (await deps.vms.find(vmCid)) === 'present' ? deps.attachments.disksOf(vmCid) : [],
  );
}
