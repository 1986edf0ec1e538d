import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { DiskAttachments } from '../disks/disk-attachments';

export const getDisksArgs = z.tuple([plainId]).rest(z.unknown());

export interface GetDisksDeps {
  attachments: Pick<DiskAttachments, 'disksOf'>;
}

/**
 * get_disks: the disks really loop-mounted under the VM's persistent dir on this host; `[]` when none (never
 * null). Garden is not asked (docs/vm-existence.md): whether the VM exists is has_vm's answer, and a disk still
 * mounted for a VM whose container is gone is listed, so the Director sees it and detaches it.
 */
export async function getDisks(deps: GetDisksDeps, [vmCid]: z.infer<typeof getDisksArgs>, _call: CallContext): Promise<string[]> {
  return withContext(`Listing disks of VM '${vmCid}'`, () => deps.attachments.disksOf(vmCid));
}
