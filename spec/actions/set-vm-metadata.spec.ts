import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metadataPropertyKey, setVmMetadata, setVmMetadataArgs } from '../../src/actions/set-vm-metadata';
import type { CallContext } from '../../src/actions/call-context';
import type { GardenClient } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import { createVmFinder } from '../../src/vms/vm-finder';

const dirs = { state_dir: '/nonexistent/state', host_ephemeral_bind_mounts_dir: '/nonexistent/e', host_persistent_bind_mounts_dir: '/nonexistent/p' };
const vms = createVmFinder({ garden: { info: async () => ({}) as never }, dirs });

const call: CallContext = { apiVersion: 2, requestId: 'cpi-1', logger: silentLogger };

describe('set_vm_metadata', () => {
  it('sets one bosh.-prefixed Garden property per key; integers and hashes become strings', async () => {
    const set: [string, string, string][] = [];
    const garden = { setProperty: async (h: string, k: string, v: string) => void set.push([h, k, v]) } satisfies Pick<GardenClient, 'setProperty'>;
    const args = setVmMetadataArgs.parse(['vm-1', { director: 'd', index: 0, name: 'zookeeper/0', tags: { a: 'b' }, 'odd key/x': 'y' }]);
    assert.equal(await setVmMetadata({ garden, vms }, args, call), null);
    assert.deepEqual(set.sort(), [
      ['vm-1', 'bosh.director', 'd'],
      ['vm-1', 'bosh.index', '0'],
      ['vm-1', 'bosh.name', 'zookeeper/0'],
      ['vm-1', 'bosh.odd_key_x', 'y'],
      ['vm-1', 'bosh.tags', '{"a":"b"}'],
    ]);
    assert.equal(metadataPropertyKey('instance_group'), 'bosh.instance_group');
  });
});
