import { readFile, stat } from 'node:fs/promises';
import { hostNameservers } from './host-values';
import type { CpiConfig } from '../config/cpi-config';
import { type GuestMounts, createGuestMounts } from './guest-mounts';
import type { GardenClient } from '../garden/garden-client';
import type { CommandRunner } from '../host/command-runner';
import type { Locks } from '../host/file-lock';
import type { HostMounts } from '../host/mounts';
import type { Logger } from '../log/logger';
import { createAgentSettingsStore, type AgentSettingsStore } from './agent-settings-store';
import { createGardenSettingsTransport } from './garden-settings-transport';
import { createIptablesPortForwarding, type PortForwarding } from './iptables-ports';
import { createVmCreator, type VmCreator } from './vm-creator';
import type { VmFinder } from './vm-finder';
import { createVmRecords, type VmRecords } from './vm-records';
import { createVmRootfs } from './vm-rootfs';
import { createVmTeardown, type VmTeardown } from './vm-teardown';

/** The VM feature's services, built once per call from the shared adapters (see src/wiring). */
export interface VmServices {
  /** Whether a VM exists (Garden decides), for every method that needs to know. */
  finder: VmFinder;
  creator: VmCreator;
  teardown: VmTeardown;
  settings: AgentSettingsStore;
  records: VmRecords;
  ports: PortForwarding;
  /** Mounts inside a VM's container (detach_disk's cleanup of what the agent left mounted). */
  guestMounts: GuestMounts;
}

export interface VmServicesDeps {
  config: CpiConfig;
  garden: GardenClient;
  /** The one VM finder of the call (src/wiring builds it first: some methods need nothing else). */
  finder: VmFinder;
  runner: CommandRunner;
  locks: Locks;
  mounts: HostMounts;
  logger: Logger;
}

/** Garden's real init is mounted only where it exists: without the wrapper release it is not needed. */
async function existingFile(path: string | null): Promise<string | undefined> {
  if (!path) return undefined;
  return (await stat(path).then(
    (info) => info.isFile(),
    () => false,
  ))
    ? path
    : undefined;
}

export function createVmServices(deps: VmServicesDeps): VmServices {
  const { config, garden, finder, logger } = deps;
  const dirs = config.actions;
  const records = createVmRecords(dirs, logger);
  const ports = createIptablesPortForwarding(deps.runner, deps.locks, logger);
  const settings = createAgentSettingsStore({ dirs, locks: deps.locks, legacy: createGardenSettingsTransport(garden, finder), logger });
  const teardown = createVmTeardown({
    dirs,
    containers: {
      async destroyIfExists(handle) {
        return (await finder.tryContainer(handle, () => garden.destroy(handle))).found;
      },
    },
    ports,
    mounts: deps.mounts,
    records,
    locks: deps.locks,
    logger,
  });
  const creator = createVmCreator({
    config: { actions: config.actions, agent: config.agent },
    gardenInitPath: () => existingFile(config.warden.garden_init_path),
    garden,
    mounts: deps.mounts,
    settings,
    ports,
    records,
    rootfs: createVmRootfs({ dirs, runner: deps.runner }),
    teardown,
    hostNameservers: () => hostNameservers({ readFile: (path) => readFile(path, 'utf8').catch(() => undefined), logger }),
    logger,
  });
  const guestMounts = createGuestMounts({ garden, logger });
  return { finder, creator, teardown, settings, records, ports, guestMounts };
}
