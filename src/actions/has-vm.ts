import { z } from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import { GardenContainerNotFound, type GardenClient } from '../garden/garden-client';

export const hasVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface HasVmDeps {
  garden: Pick<GardenClient, 'info'>;
}

/** One Garden request: info answers ContainerNotFoundError for a missing handle. */
export async function hasVm(deps: HasVmDeps, [vmCid]: z.infer<typeof hasVmArgs>, _call: CallContext): Promise<boolean> {
  return withContext(`Checking for VM '${vmCid}'`, async () => {
    try {
      await deps.garden.info(vmCid);
      return true;
    } catch (error) {
      if (error instanceof GardenContainerNotFound) return false;
      throw error;
    }
  });
}
