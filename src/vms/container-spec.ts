import { BindMountMode, type BindMount, type ContainerSpec } from '../garden/garden-client';
import type { InitSystem } from './agent-start';
import type { VmResources } from './vm-cloud-properties';
import { GUEST_AGENT_SETTINGS_PATH, type VmHostPaths } from './vm-paths';

/** Where the per-VM init wrapper finds Garden's real init (docs/vm-init-contract.md). */
export const GUEST_GARDEN_INIT_PATH = '/var/vcap/data/garden-init';
export const INIT_ENV_VAR = 'BOSH_WARDEN_INIT';

/** Garden property keys the CPI sets on its containers (leaked containers can be found by them). */
export const OWNER_PROPERTY = 'garden-cpi.owner';
export const AGENT_ID_PROPERTY = 'bosh.agent_id';
export const INIT_PROPERTY = 'garden-cpi.init';

export interface VmContainerInput {
  vmCid: string;
  agentId: string;
  /** Stemcell path, or `docker://…` for light stemcells. */
  imageUri: string;
  /** `ip/prefix`, or `""` for a dynamic network. */
  network: string;
  paths: VmHostPaths;
  guestEphemeralPath: string;
  guestPersistentDir: string;
  init: InitSystem;
  /** Host path of Garden's real init, when it exists. */
  gardenInitPath: string | undefined;
  resources: VmResources;
}

/**
 * The one Garden create of a VM. Bind mounts, in mount order: ephemeral data, the persistent-disk root,
 * the agent settings (read-only: delivered with the create itself, so no upload and no race with an
 * agent started by systemd before the CPI could write), and Garden's real init on top of /var/vcap/data.
 * The host's /sys/fs/cgroup is deliberately not mounted, not even read-only: upstream's rw bind let a
 * privileged systemd remount the host's cgroup tmpfs read-only (measured, cgroup v1), and a read-only bind
 * shares the same superblock, which a privileged container can still remount. The runtime's own cgroup
 * mount for the container is what systemd gets instead (docs/vm-init-contract.md).
 */
export function vmContainerSpec(input: VmContainerInput): ContainerSpec {
  const { resources } = input;
  const bindMounts: BindMount[] = [
    { src_path: input.paths.ephemeralDir, dst_path: input.guestEphemeralPath, mode: BindMountMode.RW },
    { src_path: input.paths.persistentDir, dst_path: input.guestPersistentDir, mode: BindMountMode.RW },
    { src_path: input.paths.deliveredSettingsFile, dst_path: GUEST_AGENT_SETTINGS_PATH, mode: BindMountMode.RO },
    ...(input.gardenInitPath ? [{ src_path: input.gardenInitPath, dst_path: GUEST_GARDEN_INIT_PATH, mode: BindMountMode.RO }] : []),
  ];
  return {
    handle: input.vmCid,
    image: { uri: input.imageUri },
    privileged: true,
    network: input.network,
    bind_mounts: bindMounts,
    properties: {
      [AGENT_ID_PROPERTY]: input.agentId,
      [OWNER_PROPERTY]: 'garden-cpi',
      [INIT_PROPERTY]: input.init,
    },
    ...(input.init === 'systemd' ? { env: [`${INIT_ENV_VAR}=systemd`] } : {}),
    limits: {
      bandwidth_limits: {},
      cpu_limits: resources.cpuWeight !== undefined ? { weight: resources.cpuWeight } : {},
      // scope 1 = exclusive: only what this container writes, not the shared stemcell layers.
      disk_limits: resources.diskBytes !== undefined ? { byte_hard: resources.diskBytes, scope: 1 } : {},
      memory_limits: resources.memoryBytes !== undefined ? { limit_in_bytes: resources.memoryBytes } : {},
      pid_limits: {},
    },
  };
}
