import { z } from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { VmTeardown } from '../vms/vm-teardown';

export const deleteVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface DeleteVmDeps {
  teardown: Pick<VmTeardown, 'deleteVm'>;
}

/**
 * Destroys the container, removes its port rules, unmounts and removes its host dirs and records.
 * A VM that is already gone still gets whatever host state remains cleaned, and succeeds.
 */
export async function deleteVm(deps: DeleteVmDeps, [vmCid]: z.infer<typeof deleteVmArgs>, call: CallContext): Promise<null> {
  await withContext(`Deleting VM '${vmCid}'`, () => deps.teardown.deleteVm(vmCid));
  call.logger.info('Deleted VM', { vm: vmCid });
  return null;
}
