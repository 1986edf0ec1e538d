import type { CpiConfig } from '../config/cpi-config';
import type { Logger } from '../log/logger';
import { NotImplemented } from '../errors/cpi-errors';
import { type MethodHandler, defineMethod } from '../rpc/define-method';
import { createNetwork, createNetworkArgs } from '../actions/create-network';
import { deleteNetwork, deleteNetworkArgs } from '../actions/delete-network';
import type { MethodName } from '../rpc/method-names';

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
  void config;
  void logger;
  return {
    create_stemcell: notImplemented('create_stemcell'),
    delete_stemcell: notImplemented('delete_stemcell'),
    create_vm: notImplemented('create_vm'),
    delete_vm: notImplemented('delete_vm'),
    has_vm: notImplemented('has_vm'),
    reboot_vm: notImplemented('reboot_vm'),
    set_vm_metadata: notImplemented('set_vm_metadata'),
    calculate_vm_cloud_properties: notImplemented('calculate_vm_cloud_properties'),
    create_disk: notImplemented('create_disk'),
    delete_disk: notImplemented('delete_disk'),
    has_disk: notImplemented('has_disk'),
    attach_disk: notImplemented('attach_disk'),
    detach_disk: notImplemented('detach_disk'),
    get_disks: notImplemented('get_disks'),
    resize_disk: notImplemented('resize_disk'),
    update_disk: notImplemented('update_disk'),
    set_disk_metadata: notImplemented('set_disk_metadata'),
    snapshot_disk: notImplemented('snapshot_disk'),
    delete_snapshot: notImplemented('delete_snapshot'),
    create_network: defineMethod('create_network', createNetworkArgs, (args) => createNetwork({}, args)),
    delete_network: defineMethod('delete_network', deleteNetworkArgs, (args) => deleteNetwork({}, args)),
    current_vm_id: notImplemented('current_vm_id'),
  };
}
