import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { VmFinder } from '../vms/vm-finder';

export const hasVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface HasVmDeps {
  vms: Pick<VmFinder, 'find'>;
}

/** True exactly when Garden has the container; host state left by a Garden restart does not count. */
export async function hasVm(deps: HasVmDeps, [vmCid]: z.infer<typeof hasVmArgs>, _call: CallContext): Promise<boolean> {
  return withContext(`Checking for VM '${vmCid}'`, async () => (await deps.vms.find(vmCid)) === 'present');
}
