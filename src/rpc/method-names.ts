/** Every method of the CPI contract (docs/cpi-contract.md). */
export const METHOD_NAMES = [
  'info',
  'create_stemcell',
  'delete_stemcell',
  'create_vm',
  'delete_vm',
  'has_vm',
  'reboot_vm',
  'set_vm_metadata',
  'calculate_vm_cloud_properties',
  'create_disk',
  'delete_disk',
  'has_disk',
  'attach_disk',
  'detach_disk',
  'get_disks',
  'resize_disk',
  'update_disk',
  'set_disk_metadata',
  'snapshot_disk',
  'delete_snapshot',
  'create_network',
  'delete_network',
  'current_vm_id',
] as const;

export type MethodName = (typeof METHOD_NAMES)[number];

export function isMethodName(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}
