import { z } from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { VMNotFound, withContext } from '../errors/cpi-errors';
import { GardenContainerNotFound, GardenError, type GardenClient } from '../garden/garden-client';
import { agentStartProcess } from '../vms/agent-start';
import type { VmRecords } from '../vms/vm-records';

export const rebootVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface RebootVmDeps {
  garden: Pick<GardenClient, 'stop' | 'runDetached'>;
  records: Pick<VmRecords, 'read'>;
  startContainersWithSystemd: boolean;
}

// gdn's stop of an unknown handle is a 500 "pid not found for container", not ContainerNotFoundError.
function isMissingContainer(error: unknown): boolean {
  return error instanceof GardenContainerNotFound || (error instanceof GardenError && /pid not found|unknown handle/i.test(error.message));
}

/**
 * A container cannot reboot its kernel: stop every process except init (Garden's stop), then start
 * the agent again exactly as create_vm did. The IP, bind mounts, disks and settings stay.
 */
export async function rebootVm(deps: RebootVmDeps, [vmCid]: z.infer<typeof rebootVmArgs>, call: CallContext): Promise<null> {
  const record = await deps.records.read(vmCid);
  // VMs made by the upstream CPI have no record: its global switch decided their init.
  const init = record?.init ?? (deps.startContainersWithSystemd ? 'systemd' : 'runit');
  await withContext(`Rebooting VM '${vmCid}'`, async () => {
    try {
      await deps.garden.stop(vmCid, false);
    } catch (error) {
      if (isMissingContainer(error)) throw new VMNotFound(`VM '${vmCid}' not found`, { cause: error });
      throw error;
    }
    await deps.garden.runDetached(vmCid, agentStartProcess(init, { reboot: true }));
  });
  call.logger.info('Rebooted VM', { vm: vmCid, init });
  return null;
}
