import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { GardenClient } from '../garden/garden-client';
import { agentStartProcess } from '../vms/agent-start';
import type { VmFinder } from '../vms/vm-finder';
import type { VmRecords } from '../vms/vm-records';

export const rebootVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface RebootVmDeps {
  garden: Pick<GardenClient, 'stop' | 'runDetached'>;
  records: Pick<VmRecords, 'read'>;
  vms: Pick<VmFinder, 'onContainer'>;
  startContainersWithSystemd: boolean;
}

/**
 * A container cannot reboot its kernel: stop every process except init (Garden's stop), then start
 * the agent again exactly as create_vm did. The IP, bind mounts, disks and settings stay.
 */
export async function rebootVm(deps: RebootVmDeps, [vmCid]: z.infer<typeof rebootVmArgs>, call: CallContext): Promise<null> {
  const init = await withContext(`Rebooting VM '${vmCid}'`, async () => {
    const record = await deps.records.read(vmCid);
    // VMs made by the upstream CPI have no record: its global switch decided their init.
    const init = record?.init ?? (deps.startContainersWithSystemd ? 'systemd' : 'runit');
    // No container: VMNotFound, whatever host state is left (the VM cannot be rebooted, only recreated).
    await deps.vms.onContainer(vmCid, () => deps.garden.stop(vmCid, false));
    await deps.vms.onContainer(vmCid, () => deps.garden.runDetached(vmCid, agentStartProcess(init, { reboot: true })));
    return init;
  });
  call.logger.info('Rebooted VM', { vm: vmCid, init });
  return null;
}
