import * as z from 'zod';
import type { CallContext } from './call-context';
import { cloudPropertiesForResources } from '../vms/vm-cloud-properties';

export const calculateVmCloudPropertiesArgs = z
  .tuple([
    z.looseObject({
      cpu: z.number().positive(),
      ram: z.number().int().positive(),
      ephemeral_disk_size: z.number().int().positive(),
    }),
  ])
  .rest(z.unknown());

/** Director vm_resources -> `{cpu, memory_mb, ephemeral_disk_mb}` (see src/vms/vm-cloud-properties.ts). */
export async function calculateVmCloudProperties(
  _deps: Record<string, never>,
  [resources]: z.infer<typeof calculateVmCloudPropertiesArgs>,
  _call: CallContext,
): Promise<unknown> {
  return cloudPropertiesForResources(resources);
}
