import * as z from 'zod';
import type { CallContext } from './call-context';
import { cloudProperties, stemcellCid } from './shared-schemas';
import { CloudError, withContext } from '../errors/cpi-errors';
import { describeFirstIssue, formatIssuePath } from '../errors/validation-message';
import { networksSchema } from '../vms/networks';
import { toVmResources, vmCloudPropertiesSchema } from '../vms/vm-cloud-properties';
import type { VmCreator } from '../vms/vm-creator';
import { chooseInitSystem } from '../vms/vm-init';
import type { StemcellStore } from '../stemcells/stemcell-store';

export const createVmArgs = z
  .tuple([
    z.string().min(1), // agent_id
    stemcellCid, // a plain id, or the upstream CPI's light://<reference>
    cloudProperties,
    networksSchema,
    z.array(z.string()).nullable().optional(), // disk_cids: a placement hint, unused by one host
    z.unknown().optional(), // env: copied verbatim into the agent settings
  ])
  .rest(z.unknown());

export interface CreateVmDeps {
  stemcells: Pick<StemcellStore, 'find'>;
  creator: VmCreator;
  startContainersWithSystemd: boolean;
}

export async function createVm(deps: CreateVmDeps, args: z.infer<typeof createVmArgs>, call: CallContext): Promise<unknown> {
  const [agentId, stemcellCid, rawProperties, networks, , env] = args;
  const context = `Creating VM with agent ID '${agentId}'`;

  const stemcell = await withContext(`${context}: Finding stemcell '${stemcellCid}'`, () => deps.stemcells.find(stemcellCid));
  if (stemcell === undefined) throw new CloudError(`${context}: Expected to find stemcell '${stemcellCid}'`);

  const parsed = vmCloudPropertiesSchema.safeParse(rawProperties);
  if (!parsed.success) {
    const problem = describeFirstIssue(parsed.error.issues, rawProperties, (path) => formatIssuePath(path, 'cloud_properties'));
    throw new CloudError(`${context}: Invalid ${problem}`);
  }
  const resources = await withContext(`${context}: Parsing cloud_properties`, async () => toVmResources(parsed.data));
  const init = chooseInitSystem(stemcell, deps.startContainersWithSystemd);

  const created = await deps.creator.create({
    agentId,
    image: stemcell.kind === 'docker' ? { uri: stemcell.uri } : stemcell.format === 'dir' ? { rootfsDir: stemcell.path } : { uri: stemcell.path },
    init,
    resources,
    networks,
    env,
  });
  call.logger.info('Created VM', { vm: created.vmCid, agent_id: agentId, init });
  // API v2 answers [cid, networks]; a bare string would be read as its first character.
  return call.apiVersion === 1 ? created.vmCid : [created.vmCid, created.networks];
}
