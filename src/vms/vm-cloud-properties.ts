import * as z from 'zod';
import { CloudError } from '../errors/cpi-errors';
import { parsePortMapping, type PortMapping } from './port-mappings';

// Upstream's `alwaysString`: 80 and "80" are the same port.
const portText = z.union([z.string(), z.number().int()]).transform((value) => String(value));

const portSchema = z.object({
  host: portText,
  container: portText.nullable().optional(),
  protocol: z.string().nullable().optional(),
});

/**
 * create_vm cloud_properties this CPI understands; unknown keys are ignored (cloud_properties are
 * shared with other CPIs and the Director passes them through as written).
 *
 * - `ports`: host port DNAT, exactly as upstream (host/container/protocol, ranges).
 * - `memory_mb` -> Garden `memory_limits.limit_in_bytes` (also the swap limit).
 * - `cpu` -> Garden `cpu_limits.weight` = cpu × 1024: a relative share under contention, not a cap.
 * - `ephemeral_disk_mb` -> Garden `disk_limits.byte_hard` with exclusive scope: caps what the container
 *   writes to its own root filesystem layer. /var/vcap/data is a host directory and stays unlimited.
 */
export const vmCloudPropertiesSchema = z
  .looseObject({
    ports: z.array(portSchema).nullable().optional(),
    memory_mb: z.number().int().positive().optional(),
    cpu: z.number().positive().optional(),
    ephemeral_disk_mb: z.number().int().positive().optional(),
  })
  .nullable()
  .optional()
  .transform((value) => value ?? {});

export type VmCloudProperties = z.output<typeof vmCloudPropertiesSchema>;

/** What create_vm needs from the cloud properties. */
export interface VmResources {
  ports: PortMapping[];
  memoryBytes?: number;
  cpuWeight?: number;
  diskBytes?: number;
}

/** Validates each port entry (errors name the entry) and converts sizes to Garden's units. */
export function toVmResources(properties: VmCloudProperties): VmResources {
  const ports = (properties.ports ?? []).map((entry, index) => {
    try {
      return parsePortMapping({ host: entry.host, container: entry.container ?? undefined, protocol: entry.protocol ?? undefined });
    } catch (error) {
      throw new CloudError(`Validating ports[${index}]: ${(error as Error).message}`);
    }
  });
  return {
    ports,
    ...(properties.memory_mb !== undefined ? { memoryBytes: properties.memory_mb * 1024 * 1024 } : {}),
    ...(properties.cpu !== undefined ? { cpuWeight: Math.max(1, Math.round(properties.cpu * 1024)) } : {}),
    ...(properties.ephemeral_disk_mb !== undefined ? { diskBytes: properties.ephemeral_disk_mb * 1024 * 1024 } : {}),
  };
}

/** calculate_vm_cloud_properties: Director vm_resources -> the cloud properties above. */
export function cloudPropertiesForResources(resources: { cpu: number; ram: number; ephemeral_disk_size: number }): VmCloudProperties {
  return { cpu: resources.cpu, memory_mb: resources.ram, ephemeral_disk_mb: resources.ephemeral_disk_size };
}
