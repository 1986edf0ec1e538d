import type { CpiConfig } from '../config/cpi-config';
import type { Logger } from '../log/logger';
import { NotImplemented } from '../errors/cpi-errors';
import { type MethodHandler, defineMethod } from '../rpc/define-method';
import { createNetwork, createNetworkArgs } from '../actions/create-network';
import { deleteNetwork, deleteNetworkArgs } from '../actions/delete-network';
import type { MethodName } from '../rpc/method-names';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createStemcellImporter } from '../stemcells/stemcell-importer';
import { createStemcellStore } from '../stemcells/stemcell-store';
import { createStemcell, createStemcellArgs } from '../actions/create-stemcell';
import { deleteStemcell, deleteStemcellArgs } from '../actions/delete-stemcell';
import { createGardenClient } from '../garden/garden-client';
import { createCommandRunner } from '../host/command-runner';
import { createFileLocks } from '../host/file-lock';
import { createHostMounts } from '../host/mounts';
import { createVmServices } from '../vms/vm-services';
import { createVm, createVmArgs } from '../actions/create-vm';
import { deleteVm, deleteVmArgs } from '../actions/delete-vm';
import { hasVm, hasVmArgs } from '../actions/has-vm';
import { rebootVm, rebootVmArgs } from '../actions/reboot-vm';
import { setVmMetadata, setVmMetadataArgs } from '../actions/set-vm-metadata';
import { calculateVmCloudProperties, calculateVmCloudPropertiesArgs } from '../actions/calculate-vm-cloud-properties';
import { createDiskServices } from '../disks/disk-services';
import { createDisk, createDiskArgs } from '../actions/create-disk';
import { deleteDisk, deleteDiskArgs } from '../actions/delete-disk';
import { hasDisk, hasDiskArgs } from '../actions/has-disk';
import { attachDisk, attachDiskArgs } from '../actions/attach-disk';
import { detachDisk, detachDiskArgs } from '../actions/detach-disk';
import { getDisks, getDisksArgs } from '../actions/get-disks';
import { resizeDisk, resizeDiskArgs } from '../actions/resize-disk';
import { updateDisk, updateDiskArgs } from '../actions/update-disk';
import { setDiskMetadata, setDiskMetadataArgs } from '../actions/set-disk-metadata';
import { snapshotDisk, snapshotDiskArgs } from '../actions/snapshot-disk';
import { deleteSnapshot, deleteSnapshotArgs } from '../actions/delete-snapshot';

/** Builds a value on first use: a call only pays for the adapters its method touches. */
function lazy<T>(make: () => T): () => T {
  let value: { made: T } | undefined;
  return () => (value ??= { made: make() }).made;
}

/** Every method except `info` (answered by src/rpc without loading any of this). */
export type MethodTable = Record<Exclude<MethodName, 'info'>, MethodHandler>;

function notImplemented(name: string): MethodHandler {
  return async () => {
    throw new NotImplemented(`Method '${name}' is not implemented by this CPI`);
  };
}

/**
 * The one place where the CPI is wired: config -> adapters -> services -> actions.
 * Loaded lazily by src/rpc, so `info` never pays for Garden, tar or host code.
 */
export function createMethods(config: CpiConfig, logger: Logger): MethodTable {
  // Shared adapters (one per call process).
  const garden = lazy(() =>
    createGardenClient({
      network: config.warden.connect_network,
      address: config.warden.connect_address,
      logger,
      keepAlive: true,
      timeouts: {
        requestMs: config.warden.request_timeout_seconds * 1000,
        longRequestMs: config.warden.long_request_timeout_seconds * 1000,
      },
    }),
  );
  const runner = lazy(createCommandRunner);
  const locks = lazy(() => createFileLocks(join(config.actions.state_dir, 'locks'), logger));
  const hostMounts = lazy(() => createHostMounts(runner(), logger));
  const vms = lazy(() => createVmServices({ config, garden: garden(), runner: runner(), locks: locks(), mounts: hostMounts(), logger }));
  const startContainersWithSystemd = config.start_containers_with_systemd;
  const disks = lazy(() =>
    createDiskServices({
      config: config.actions,
      runner: runner(),
      mounts: hostMounts(),
      logger,
    }),
  );
  // attach/detach: the disk services plus whether the VM exists (Garden decides) and its agent
  // settings (updated under the VM's lock).
  const diskVmDeps = () => ({ ...disks(), vms: vms().finder, settings: vms().settings, locks: locks() });
  const stemcellDirs = { stemcellsDir: config.actions.stemcells_dir, stateDir: config.actions.state_dir, newId: randomUUID };
  const stemcellStore = lazy(() => createStemcellStore({ ...stemcellDirs, locks: locks() }));
  const stemcellImporter = lazy(() =>
    createStemcellImporter({ ...stemcellDirs, locks: locks(), expand: config.actions.expand_stemcell_tarball }),
  );

  return {
    create_stemcell: defineMethod('create_stemcell', createStemcellArgs, (args, call) =>
      createStemcell({ stemcells: stemcellImporter() }, args, call),
    ),
    delete_stemcell: defineMethod('delete_stemcell', deleteStemcellArgs, (args, call) =>
      deleteStemcell({ stemcells: stemcellStore() }, args, call),
    ),
    create_vm: defineMethod('create_vm', createVmArgs, (args, call) =>
      createVm({ stemcells: stemcellStore(), creator: vms().creator, startContainersWithSystemd }, args, call),
    ),
    delete_vm: defineMethod('delete_vm', deleteVmArgs, (args, call) => deleteVm({ teardown: vms().teardown, attachments: disks().attachments, locks: locks() }, args, call)),
    has_vm: defineMethod('has_vm', hasVmArgs, (args, call) => hasVm({ vms: vms().finder }, args, call)),
    reboot_vm: defineMethod('reboot_vm', rebootVmArgs, (args, call) =>
      rebootVm({ garden: garden(), records: vms().records, vms: vms().finder, startContainersWithSystemd }, args, call),
    ),
    set_vm_metadata: defineMethod('set_vm_metadata', setVmMetadataArgs, (args, call) => setVmMetadata({ garden: garden(), vms: vms().finder }, args, call)),
    calculate_vm_cloud_properties: defineMethod('calculate_vm_cloud_properties', calculateVmCloudPropertiesArgs, (args, call) =>
      calculateVmCloudProperties({}, args, call),
    ),
    create_disk: defineMethod('create_disk', createDiskArgs, (args, call) => createDisk(disks(), args, call)),
    delete_disk: defineMethod('delete_disk', deleteDiskArgs, (args, call) => deleteDisk({ ...disks(), locks: locks() }, args, call)),
    has_disk: defineMethod('has_disk', hasDiskArgs, (args, call) => hasDisk(disks(), args, call)),
    attach_disk: defineMethod('attach_disk', attachDiskArgs, (args, call) => attachDisk(diskVmDeps(), args, call)),
    detach_disk: defineMethod('detach_disk', detachDiskArgs, (args, call) => detachDisk(diskVmDeps(), args, call)),
    get_disks: defineMethod('get_disks', getDisksArgs, (args, call) => getDisks(disks(), args, call)),
    resize_disk: defineMethod('resize_disk', resizeDiskArgs, (args, call) => resizeDisk({ ...disks(), locks: locks() }, args, call)),
    update_disk: defineMethod('update_disk', updateDiskArgs, (args, call) => updateDisk({ ...disks(), locks: locks() }, args, call)),
    set_disk_metadata: defineMethod('set_disk_metadata', setDiskMetadataArgs, (args, call) => setDiskMetadata(disks(), args, call)),
    snapshot_disk: defineMethod('snapshot_disk', snapshotDiskArgs, (args, call) =>
      snapshotDisk({ ...disks(), locks: locks() }, args, call),
    ),
    delete_snapshot: defineMethod('delete_snapshot', deleteSnapshotArgs, (args, call) => deleteSnapshot(disks(), args, call)),
    create_network: defineMethod('create_network', createNetworkArgs, (args) => createNetwork({}, args)),
    delete_network: defineMethod('delete_network', deleteNetworkArgs, (args) => deleteNetwork({}, args)),
    current_vm_id: notImplemented('current_vm_id'),
  };
}
