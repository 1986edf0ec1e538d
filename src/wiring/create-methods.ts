import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { CpiConfig } from '../config/cpi-config';
import type { Logger } from '../log/logger';
import { NotImplemented } from '../errors/cpi-errors';
import { type MethodHandler, defineMethod } from '../actions/define-method';

// Everything below is loaded with import(): a call loads only its own action and the adapters that action
// uses (the bundle initialises a module on its first import), so has_disk never loads the Garden client,
// tar or iptables code (docs/start-up.md). Only modules of this repository and of node_modules can be
// imported so: cpi-methods.js is compiled with node:vm, where import() of a Node built-in has no loader.

/** Builds a value on first use: a call only pays for the adapters its method touches. */
function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= make());
}

/** The CPI's adapters and services for one call, each made on first use. */
function createServices(config: CpiConfig, logger: Logger) {
  const garden = lazy(async () =>
    (await import('../garden/garden-client')).createGardenClient({
      network: config.warden.connect_network,
      address: config.warden.connect_address,
      logger,
      // One short process per call: requests made in turn share one connection.
      keepAlive: true,
      timeouts: {
        requestMs: config.warden.request_timeout_seconds * 1000,
        longRequestMs: config.warden.long_request_timeout_seconds * 1000,
      },
    }),
  );
  const runner = lazy(async () => (await import('../host/command-runner')).createCommandRunner());
  const locks = lazy(async () => (await import('../host/file-lock')).createFileLocks(join(config.actions.state_dir, 'locks'), logger));
  const mounts = lazy(async () => (await import('../host/mounts')).createHostMounts(await runner(), logger));
  // The finder alone for the methods that only ask whether a VM exists (has_vm, set_vm_metadata): the rest
  // of the VM services (creation, teardown, iptables, rootfs) is ~40 ms of module start-up they never use.
  const vmFinder = lazy(async () => (await import('../vms/vm-finder')).createVmFinder({ garden: await garden(), dirs: config.actions }));
  const vms = lazy(async () =>
    (await import('../vms/vm-services')).createVmServices({
      config,
      garden: await garden(),
      finder: await vmFinder(),
      runner: await runner(),
      locks: await locks(),
      mounts: await mounts(),
      logger,
    }),
  );
  const disks = lazy(async () =>
    (await import('../disks/disk-services')).createDiskServices({ config: config.actions, runner: await runner(), mounts: await mounts(), logger }),
  );
  const stemcellDirs = async () => ({
    stemcellsDir: config.actions.stemcells_dir,
    stateDir: config.actions.state_dir,
    newId: randomUUID,
    locks: await locks(),
  });
  const stemcellStore = lazy(async () => (await import('../stemcells/stemcell-store')).createStemcellStore(await stemcellDirs()));
  const stemcellImporter = lazy(async () =>
    (await import('../stemcells/stemcell-importer')).createStemcellImporter({
      ...(await stemcellDirs()),
      expand: config.actions.expand_stemcell_tarball,
    }),
  );
  return { config, garden, locks, vmFinder, vms, disks, stemcellStore, stemcellImporter };
}

type Services = ReturnType<typeof createServices>;

/** A method: loads its action and binds it to its deps. */
type MethodEntry = (services: Services) => Promise<MethodHandler>;

/**
 * Every CPI method but `info` (which src/rpc answers without loading any of this), by its name in the CPI
 * contract: adding a method is one entry here. Each entry imports its action and gives it its deps.
 */
const METHODS: Record<string, MethodEntry> = {
  create_stemcell: async (s) => {
    const { createStemcell, createStemcellArgs } = await import('../actions/create-stemcell');
    return defineMethod(createStemcellArgs, async (args, call) => createStemcell({ stemcells: await s.stemcellImporter() }, args, call));
  },
  delete_stemcell: async (s) => {
    const { deleteStemcell, deleteStemcellArgs } = await import('../actions/delete-stemcell');
    return defineMethod(deleteStemcellArgs, async (args, call) => deleteStemcell({ stemcells: await s.stemcellStore() }, args, call));
  },
  create_vm: async (s) => {
    const { createVm, createVmArgs } = await import('../actions/create-vm');
    const deps = async () => ({
      stemcells: await s.stemcellStore(),
      creator: (await s.vms()).creator,
      startContainersWithSystemd: s.config.start_containers_with_systemd,
    });
    return defineMethod(createVmArgs, async (args, call) => createVm(await deps(), args, call), { versioned: true });
  },
  delete_vm: async (s) => {
    const { deleteVm, deleteVmArgs } = await import('../actions/delete-vm');
    const deps = async () => ({ teardown: (await s.vms()).teardown, attachments: (await s.disks()).attachments, locks: await s.locks() });
    return defineMethod(deleteVmArgs, async (args, call) => deleteVm(await deps(), args, call));
  },
  has_vm: async (s) => {
    const { hasVm, hasVmArgs } = await import('../actions/has-vm');
    return defineMethod(hasVmArgs, async (args, call) => hasVm({ vms: await s.vmFinder() }, args, call));
  },
  reboot_vm: async (s) => {
    const { rebootVm, rebootVmArgs } = await import('../actions/reboot-vm');
    const deps = async () => {
      const vms = await s.vms();
      return { garden: await s.garden(), records: vms.records, vms: vms.finder, startContainersWithSystemd: s.config.start_containers_with_systemd };
    };
    return defineMethod(rebootVmArgs, async (args, call) => rebootVm(await deps(), args, call));
  },
  set_vm_metadata: async (s) => {
    const { setVmMetadata, setVmMetadataArgs } = await import('../actions/set-vm-metadata');
    return defineMethod(setVmMetadataArgs, async (args, call) => setVmMetadata({ garden: await s.garden(), vms: await s.vmFinder() }, args, call));
  },
  calculate_vm_cloud_properties: async () => {
    const { calculateVmCloudProperties, calculateVmCloudPropertiesArgs } = await import('../actions/calculate-vm-cloud-properties');
    return defineMethod(calculateVmCloudPropertiesArgs, (args, call) => calculateVmCloudProperties({}, args, call));
  },
  create_disk: async (s) => {
    const { createDisk, createDiskArgs } = await import('../actions/create-disk');
    return defineMethod(createDiskArgs, async (args, call) => createDisk(await s.disks(), args, call));
  },
  delete_disk: async (s) => {
    const { deleteDisk, deleteDiskArgs } = await import('../actions/delete-disk');
    return defineMethod(deleteDiskArgs, async (args, call) => deleteDisk({ ...(await s.disks()), locks: await s.locks() }, args, call));
  },
  has_disk: async (s) => {
    const { hasDisk, hasDiskArgs } = await import('../actions/has-disk');
    return defineMethod(hasDiskArgs, async (args, call) => hasDisk(await s.disks(), args, call));
  },
  attach_disk: async (s) => {
    const { attachDisk, attachDiskArgs } = await import('../actions/attach-disk');
    return defineMethod(attachDiskArgs, async (args, call) => attachDisk(await diskVmDeps(s), args, call), { versioned: true });
  },
  detach_disk: async (s) => {
    const { detachDisk, detachDiskArgs } = await import('../actions/detach-disk');
    return defineMethod(detachDiskArgs, async (args, call) => detachDisk(await diskVmDeps(s), args, call));
  },
  get_disks: async (s) => {
    const { getDisks, getDisksArgs } = await import('../actions/get-disks');
    return defineMethod(getDisksArgs, async (args, call) => getDisks(await s.disks(), args, call));
  },
  resize_disk: async (s) => {
    const { resizeDisk, resizeDiskArgs } = await import('../actions/resize-disk');
    return defineMethod(resizeDiskArgs, async (args, call) => resizeDisk({ ...(await s.disks()), locks: await s.locks() }, args, call));
  },
  update_disk: async (s) => {
    const { updateDisk, updateDiskArgs } = await import('../actions/update-disk');
    return defineMethod(updateDiskArgs, async (args, call) => updateDisk({ ...(await s.disks()), locks: await s.locks() }, args, call));
  },
  set_disk_metadata: async (s) => {
    const { setDiskMetadata, setDiskMetadataArgs } = await import('../actions/set-disk-metadata');
    return defineMethod(setDiskMetadataArgs, async (args, call) => setDiskMetadata(await s.disks(), args, call));
  },
  snapshot_disk: async (s) => {
    const { snapshotDisk, snapshotDiskArgs } = await import('../actions/snapshot-disk');
    return defineMethod(snapshotDiskArgs, async (args, call) => snapshotDisk({ ...(await s.disks()), locks: await s.locks() }, args, call));
  },
  delete_snapshot: async (s) => {
    const { deleteSnapshot, deleteSnapshotArgs } = await import('../actions/delete-snapshot');
    return defineMethod(deleteSnapshotArgs, async (args, call) => deleteSnapshot(await s.disks(), args, call));
  },
  create_network: async () => {
    const { createNetwork, createNetworkArgs } = await import('../actions/create-network');
    return defineMethod(createNetworkArgs, (args) => createNetwork({}, args));
  },
  delete_network: async () => {
    const { deleteNetwork, deleteNetworkArgs } = await import('../actions/delete-network');
    return defineMethod(deleteNetworkArgs, (args) => deleteNetwork({}, args));
  },
  current_vm_id: async () => async (_args, _call, method) => {
    throw new NotImplemented(`Method '${method}' is not implemented by this CPI`);
  },
};

/** attach/detach: the disk services plus whether the VM exists (Garden decides) and its agent settings (under the VM's lock). */
async function diskVmDeps(s: Services) {
  const vms = await s.vms();
  return { ...(await s.disks()), vms: vms.finder, settings: vms.settings, guestMounts: vms.guestMounts, locks: await s.locks() };
}

/**
 * The handler of `method` wired to this call's services, or undefined for a method the CPI contract does
 * not have. The one place where the CPI is wired: config -> adapters -> services -> actions.
 */
export async function loadMethod(method: string, config: CpiConfig, logger: Logger): Promise<MethodHandler | undefined> {
  const entry = Object.hasOwn(METHODS, method) ? METHODS[method] : undefined;
  return entry?.(createServices(config, logger));
}
