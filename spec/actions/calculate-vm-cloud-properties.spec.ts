import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calculateVmCloudProperties, calculateVmCloudPropertiesArgs } from '../../src/actions/calculate-vm-cloud-properties';
import { silentLogger } from '../../src/log/logger';
import { toVmResources, vmCloudPropertiesSchema } from '../../src/vms/vm-cloud-properties';

describe('calculate_vm_cloud_properties', () => {
  it('maps vm_resources to cloud properties create_vm understands', async () => {
    const args = calculateVmCloudPropertiesArgs.parse([{ cpu: 2, ram: 1024, ephemeral_disk_size: 10240 }]);
    const result = await calculateVmCloudProperties({}, args, { apiVersion: 2, requestId: undefined, logger: silentLogger });
    assert.deepEqual(result, { cpu: 2, memory_mb: 1024, ephemeral_disk_mb: 10240 });
    const resources = toVmResources(vmCloudPropertiesSchema.parse(result));
    assert.deepEqual(resources, { ports: [], cpuWeight: 2048, memoryBytes: 1024 * 1024 * 1024, diskBytes: 10240 * 1024 * 1024 });
  });

  it('rejects missing resources', () => {
    assert.equal(calculateVmCloudPropertiesArgs.safeParse([{ cpu: 1 }]).success, false);
  });
});
