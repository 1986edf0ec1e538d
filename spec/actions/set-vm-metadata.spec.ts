import { after, before, describe, it } from 'node:test';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { type CpiRun, request, runCpi } from '../../testkit/cpi-process';
import assert from 'node:assert/strict';
import { metadataPropertyKey, setVmMetadata, setVmMetadataArgs } from '../../src/actions/set-vm-metadata';
import type { CallContext } from '../../src/actions/call-context';
import type { GardenClient } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import { createVmFinder } from '../../src/vms/vm-finder';

const dirs = { state_dir: '/nonexistent/state', host_ephemeral_bind_mounts_dir: '/nonexistent/e', host_persistent_bind_mounts_dir: '/nonexistent/p' };
const vms = createVmFinder({ garden: { list: async () => ['vm-1'] }, dirs });
const noProperties = async (): Promise<Record<string, string>> => ({});

const call: CallContext = { apiVersion: 2, requestId: 'cpi-1', logger: silentLogger };

describe('set_vm_metadata', () => {
  it('sets one bosh.-prefixed Garden property per key; integers and hashes become strings', async () => {
    const set: [string, string, string][] = [];
    const garden = {
      properties: noProperties,
      setProperty: async (h: string, k: string, v: string) => void set.push([h, k, v]),
      removeProperty: async () => undefined,
    } satisfies Pick<GardenClient, 'properties' | 'setProperty' | 'removeProperty'>;
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

describe('set_vm_metadata through the built CPI (emulator)', () => {
  let env: CpiEnvironment;
  const VM = 'vm-meta-1';
  const thousandKeys = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, `value-${i}`]));

  /** One call under `ulimit -n 256`, as a busy Director host may run it. */
  function callWithFewFds(args: unknown[]): Promise<CpiRun> {
    return runCpi(env.configPath, request('set_vm_metadata', args, { api_version: 2 }), { wrapper: ['prlimit', '--nofile=256:256'] });
  }

  before(async () => {
    env = await startCpiEnvironment();
    await env.client.create({ handle: VM, properties: { 'bosh.agent_id': 'agent-1', 'bosh.k7': 'old-7' } });
  });
  after(async () => {
    await env.close();
  });

  it('sets 1000 keys under `ulimit -n 256` (bounded concurrency, no EMFILE)', async () => {
    const run = await callWithFewFds([VM, thousandKeys]);
    assert.equal(run.response.error, null, JSON.stringify(run.response));
    const properties = await env.client.properties(VM);
    for (let i = 0; i < 1000; i += 1) assert.equal(properties[`bosh.k${i}`], `value-${i}`);
    assert.equal(properties['bosh.agent_id'], 'agent-1');
  });

  it("opens one Garden connection for all its requests (the list, the VM's properties, then one per changed key)", async () => {
    env.garden.resetRecords();
    const run = await runCpi(
      env.configPath,
      request('set_vm_metadata', [VM, { director: 'bosh', deployment: 'cf', name: 'router/0' }], { api_version: 2 }),
    );
    assert.equal(run.response.error, null, JSON.stringify(run.response));
    assert.deepEqual(
      env.garden.requests.map((r) => `${r.method} ${r.path}`),
      [
        'GET /containers',
        `GET /containers/${VM}/properties`,
        ...['director', 'deployment', 'name'].map((key) => `PUT /containers/${VM}/properties/bosh.${key}`),
      ],
    );
    assert.equal(env.garden.connectionCount(), 1);
  });

  it('sends only the keys whose value changes', async () => {
    env.garden.resetRecords();
    const run = await callWithFewFds([VM, { ...thousandKeys, k3: 'changed' }]);
    assert.equal(run.response.error, null, JSON.stringify(run.response));
    const puts = env.garden.requests.filter((r) => r.method === 'PUT');
    assert.deepEqual(
      puts.map((r) => r.path),
      [`/containers/${VM}/properties/bosh.k3`],
    );
  });

  it('a failing key leaves every property as it was (no partial update)', async () => {
    const before = await env.client.properties(VM);
    const update = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, `next-${i}`]));
    update.brand_new = 'x';
    env.garden.injectFault({ method: 'PUT', path: /\/properties\/bosh\.k500$/, status: 500, message: 'disk full' });
    try {
      const run = await callWithFewFds([VM, update]);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', JSON.stringify(run.response));
      assert.match(run.response.error?.message ?? '', /Setting metadata of VM 'vm-meta-1'.*disk full/);
    } finally {
      env.garden.clearFaults();
    }
    assert.deepEqual(await env.client.properties(VM), before);
  });
});
