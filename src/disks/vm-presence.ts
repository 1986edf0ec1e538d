import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpiConfig } from '../config/cpi-config';
import { vmsStateRoot } from '../vms/vm-paths';
import { GardenContainerNotFound, type GardenClient } from '../garden/garden-client';
import { assertPlainId } from './disk-paths';

/** Does a VM exist? Asked before attaching to or detaching from it. */
export interface VmPresence {
  exists(vmCid: string): Promise<boolean>;
}

export interface VmPresenceDeps {
  dirs: Pick<CpiConfig['actions'], 'state_dir'>;
  /** Garden's view (one request); only asked for VMs without host state, i.e. made by the upstream CPI. */
  containerExists?: (vmCid: string) => Promise<boolean>;
}

/**
 * Cheap first: our create_vm keeps host state under `<state_dir>/vms/<vm>/` until delete_vm, so no Garden
 * round trip for our own VMs. VMs made by the upstream CPI have none, so Garden decides for those.
 */
export function createVmPresence(deps: VmPresenceDeps): VmPresence {
  return {
    async exists(vmCid) {
      const stateDir = join(vmsStateRoot(deps.dirs), assertPlainId('VM', vmCid));
      const info = await stat(stateDir).catch(() => undefined);
      if (info?.isDirectory()) return true;
      return deps.containerExists ? deps.containerExists(vmCid) : false;
    },
  };
}

/** Garden's answer for one handle (one request): `info` fails with ContainerNotFoundError when it is gone. */
export function gardenContainerExists(garden: Pick<GardenClient, 'info'>): (vmCid: string) => Promise<boolean> {
  return async (vmCid) => {
    try {
      await garden.info(vmCid);
      return true;
    } catch (error) {
      if (error instanceof GardenContainerNotFound) return false;
      throw error;
    }
  };
}
