import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { ensurePrivateDir } from '../host/private-dirs';
import type { CpiConfig } from '../config/cpi-config';
import { GardenUnreachable, type GardenClient } from '../garden/garden-client';
import type { HostMounts } from '../host/mounts';
import type { Logger } from '../log/logger';
import { withContext } from '../errors/cpi-errors';
import { agentStartProcess, type InitSystem } from './agent-start';
import { buildAgentSettings, preconfiguredNetworks } from './agent-settings';
import type { AgentSettingsStore } from './agent-settings-store';
import { vmContainerSpec } from './container-spec';
import { creationFailure } from './creation-failure';
import type { PortForwarding } from './iptables-ports';
import { assertReachableAgentOptions } from './host-values';
import { backfillDefaultDns, defaultNetwork, gardenNetworkFor, type Networks, withDynamicAddress } from './networks';
import type { VmResources } from './vm-cloud-properties';
import { vmHostPaths } from './vm-paths';
import { currentProcess } from '../host/process-identity';
import type { VmRecords } from './vm-records';
import type { VmRootfs } from './vm-rootfs';
import type { VmTeardown } from './vm-teardown';

function ignoreExisting(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EEXIST') throw error;
}

export interface CreateVmRequest {
  agentId: string;
  /**
   * The resolved stemcell: an expanded rootfs dir (each VM gets its own copy-on-write root over it,
   * handed to Garden as raw://), or what Garden gets as image.uri unchanged (a tar file's path for the
   * image plugin, or `docker://…` for light stemcells).
   */
  image: { rootfsDir: string } | { uri: string };
  init: InitSystem;
  resources: VmResources;
  networks: Networks;
  env: unknown;
}

export interface CreatedVm {
  vmCid: string;
  /** The networks as sent, DNS backfilled: create_vm's second result under API v2. */
  networks: Networks;
}

export interface VmCreator {
  create(request: CreateVmRequest): Promise<CreatedVm>;
}

export interface VmCreatorDeps {
  config: Pick<CpiConfig, 'actions' | 'agent'>;
  /** Host path of Garden's real init to mount for the init wrapper, when there is one. */
  gardenInitPath: () => Promise<string | undefined>;
  garden: Pick<GardenClient, 'create' | 'info' | 'runDetached'>;
  mounts: Pick<HostMounts, 'bindOntoItself'>;
  settings: Pick<AgentSettingsStore, 'create' | 'update'>;
  ports: Pick<PortForwarding, 'forward'>;
  records: VmRecords;
  rootfs: VmRootfs;
  teardown: VmTeardown;
  /** The host's nameservers a container can reach (see host-values.ts); `[]`: nothing to backfill. */
  hostNameservers: () => Promise<string[]>;
  logger: Logger;
  newId?: () => string;
}

export function createVmCreator(deps: VmCreatorDeps): VmCreator {
  const { actions } = deps.config;
  const newId = deps.newId ?? randomUUID;

  /** VMs whose create_vm process was killed mid-way: nobody else will ever delete them. */
  async function reapAbandoned(): Promise<void> {
    for (const vmCid of await deps.records.abandonedCreations()) {
      deps.logger.warn('Rolling back a VM left behind by a create_vm that died', { vm: vmCid });
      await deps.teardown
        .deleteVm(vmCid)
        .catch((error: unknown) =>
          deps.logger.warn('Rolling back an abandoned VM failed; will retry on the next create_vm', { vm: vmCid, error: String(error) }),
        );
    }
  }

  return {
    async create(request) {
      const { name, network, gardenNetwork } = await withContext(`Creating VM with agent ID '${request.agentId}'`, async () => {
        assertReachableAgentOptions(deps.config.agent);
        const chosen = defaultNetwork(request.networks);
        return { ...chosen, gardenNetwork: gardenNetworkFor(chosen.name, chosen.network) };
      });
      const nameservers = await deps.hostNameservers();
      let networks = nameservers.length > 0 ? backfillDefaultDns(request.networks, nameservers) : request.networks;
      await reapAbandoned();

      const vmCid = newId();
      const paths = vmHostPaths(actions, vmCid);
      const log = deps.logger;
      // Every host change pushes its undo; a failure runs them newest first.
      const undo: { what: string; run: () => Promise<void> }[] = [];
      let step = 'Starting';
      try {
        step = 'Recording the creation';
        await ensurePrivateDir(actions.state_dir);
        undo.push({ what: 'records', run: () => deps.teardown.removeState(vmCid) });
        await deps.records.markCreating(vmCid, currentProcess());
        await deps.records.write(vmCid, { init: request.init, agent_id: request.agentId, ports: request.resources.ports.length > 0 });

        step = 'Making host bind mounts';
        undo.push({ what: 'host dirs', run: () => deps.teardown.removeHostDirs(vmCid) });
        // The roots are root's alone (a VM's root writes setuid binaries into its /var/vcap/data); each VM's
        // own dir is 0755: it is the VM's /var/vcap/data and /warden-cpi-dev, which its users traverse.
        await ensurePrivateDir(deps.config.actions.host_ephemeral_bind_mounts_dir);
        await ensurePrivateDir(deps.config.actions.host_persistent_bind_mounts_dir);
        await mkdir(paths.ephemeralDir, { mode: 0o755 }).catch(ignoreExisting);
        await mkdir(paths.persistentDir, { mode: 0o755 }).catch(ignoreExisting);
        await deps.mounts.bindOntoItself(paths.ephemeralDir, {});
        // Unbindable first, as upstream: the per-disk bind mounts below it must not be copied into other binds.
        await deps.mounts.bindOntoItself(paths.persistentDir, { unbindableFirst: true });

        step = 'Writing agent settings';
        const settings = buildAgentSettings({
          agentId: request.agentId,
          vmCid,
          agent: deps.config.agent,
          networks,
          env: request.env,
          ephemeralPath: actions.guest_ephemeral_bind_mount_path,
        });
        await deps.settings.create(vmCid, settings);

        let imageUri: string;
        if ('rootfsDir' in request.image) {
          step = 'Making the VM root filesystem';
          undo.push({ what: 'root filesystem', run: () => deps.teardown.removeRootfs(vmCid) });
          imageUri = await deps.rootfs.create(vmCid, request.image.rootfsDir);
          if (request.resources.diskBytes !== undefined) {
            log.warn('ephemeral_disk_mb is not enforced on a raw:// root: Garden applies disk limits only through its image plugin', { vm: vmCid });
          }
        } else {
          imageUri = request.image.uri;
        }

        step = 'Creating container';
        const spec = vmContainerSpec({
          vmCid,
          agentId: request.agentId,
          imageUri,
          network: gardenNetwork,
          paths,
          guestEphemeralPath: actions.guest_ephemeral_bind_mount_path,
          guestPersistentDir: actions.guest_persistent_bind_mounts_dir,
          init: request.init,
          gardenInitPath: await deps.gardenInitPath(),
          resources: request.resources,
        });
        log.debug('Creating container', { vm: vmCid, network: gardenNetwork, init: request.init });
        // Undo is pushed first: a create that timed out may still have made the container, or may still
        // be making it (gdn finishes it after our destroy found nothing). Then the records and the creating
        // marker stay, so the next create_vm (this process being dead) destroys it if it appeared.
        let createMayStillFinish = false;
        undo.push({
          what: 'container',
          run: async () => {
            const existed = await deps.teardown.destroyContainer(vmCid);
            if (!existed && createMayStillFinish) {
              throw new Error("Garden's create did not answer, so it may still make the container; the next create_vm finishes the rollback");
            }
          },
        });
        try {
          await deps.garden.create(spec);
        } catch (error) {
          // Only a create we gave up on (its deadline passed) may still be in progress in Garden; a
          // connection Garden dropped or refused ended its handling.
          createMayStillFinish = error instanceof GardenUnreachable && error.code === 'ETIMEDOUT';
          throw error;
        }

        // Garden chose the address of a dynamic network: the agent must be told it (see withDynamicAddress).
        let containerIp = network.ip ?? '';
        if (network.type === 'dynamic' || !network.ip) {
          step = 'Reading the address Garden gave the container';
          const info = await deps.garden.info(vmCid);
          containerIp = info.ContainerIP;
          if (network.type === 'dynamic') {
            networks = withDynamicAddress(networks, name, { ip: info.ContainerIP, gateway: info.HostIP });
            const filled = networks;
            await deps.settings.update(vmCid, (current) => ({ ...current, networks: preconfiguredNetworks(filled) }));
          }
        }

        if (request.resources.ports.length > 0) {
          step = 'Forwarding host ports';
          undo.push({ what: 'port rules', run: () => deps.teardown.removePortRules(vmCid) });
          await deps.ports.forward(vmCid, containerIp, request.resources.ports);
        }

        step = 'Starting the agent';
        // Detached: the start script's process keeps running (runsvdir) after the connection closes.
        await deps.garden.runDetached(vmCid, agentStartProcess(request.init, { reboot: false }));

        await deps.records.clearCreating(vmCid);
        return { vmCid, networks };
      } catch (error) {
        let undoFailed = false;
        for (const { what, run } of undo.reverse()) {
          // If something could not be undone, keep the records (and the creating marker): the next
          // create_vm sees this process dead and finishes the rollback.
          if (what === 'records' && undoFailed) break;
          await run().catch((undoError: unknown) => {
            undoFailed = true;
            log.error(`Rolling back ${what} of VM failed`, { vm: vmCid, error: String(undoError) });
          });
        }
        throw creationFailure(`Creating VM with agent ID '${request.agentId}': ${step}`, error);
      }
    },
  };
}
