import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerSpec, GardenClient, ProcessSpec } from '../../src/garden/garden-client';
import { GardenError, GardenUnreachable } from '../../src/garden/garden-client';
import { createCommandRunner } from '../../src/host/command-runner';
import { createFileLocks } from '../../src/host/file-lock';
import { createHostMounts } from '../../src/host/mounts';
import { silentLogger } from '../../src/log/logger';
import { createAgentSettingsStore } from '../../src/vms/agent-settings-store';
import type { PortForwarding } from '../../src/vms/iptables-ports';
import { parsePortMapping } from '../../src/vms/port-mappings';
import { createVmCreator, type CreateVmRequest } from '../../src/vms/vm-creator';
import { createVmRecords } from '../../src/vms/vm-records';
import { createVmRootfs } from '../../src/vms/vm-rootfs';
import { createVmTeardown } from '../../src/vms/vm-teardown';

type Step = 'create' | 'info' | 'run' | 'forward';

class FakeGarden implements Pick<GardenClient, 'create' | 'info' | 'runDetached'> {
  containers = new Set<string>();
  created: ContainerSpec[] = [];
  runs: ProcessSpec[] = [];
  failAt: Step | undefined;
  failWith: () => Error = () => new GardenError('boom', { route: 'X', status: 500 });
  async create(spec: ContainerSpec) {
    if (this.failAt === 'create') throw this.failWith();
    this.created.push(spec);
    this.containers.add(spec.handle ?? '');
    return spec.handle ?? '';
  }
  async info() {
    if (this.failAt === 'info') throw this.failWith();
    return {
      State: 'active',
      Events: [],
      HostIP: '10.254.0.1',
      ContainerIP: '10.254.0.2',
      ContainerIPv6: '',
      ExternalIP: '',
      ContainerPath: '',
      ProcessIDs: [],
      Properties: {},
      MappedPorts: [],
    };
  }
  async runDetached(_handle: string, spec: ProcessSpec) {
    if (this.failAt === 'run') throw this.failWith();
    this.runs.push(spec);
    return { processId: 'p', streamId: '1' };
  }
}

class FakePorts implements PortForwarding {
  rules = new Map<string, string>();
  fail = false;
  async forward(vmCid: string, ip: string) {
    if (this.fail) throw new Error('iptables: boom');
    this.rules.set(vmCid, ip);
  }
  async removeForwarded(vmCid: string) {
    this.rules.delete(vmCid);
  }
}

const pick = (object: Record<string, unknown>, keys: string[]): Record<string, unknown> => Object.fromEntries(keys.map((key) => [key, object[key]]));

describe('VmCreator', () => {
  let dir: string;
  let garden: FakeGarden;
  let ports: FakePorts;
  let ids: number;
  const runner = createCommandRunner();
  const mounts = createHostMounts(runner, silentLogger);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cpi-creator-'));
  });
  after(async () => {
    await mounts.unmountRecursive(dir);
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    garden = new FakeGarden();
    ports = new FakePorts();
  });

  function creator() {
    const actions = {
      host_ephemeral_bind_mounts_dir: join(dir, 'ephemeral'),
      host_persistent_bind_mounts_dir: join(dir, 'persistent'),
      state_dir: join(dir, 'state'),
      guest_ephemeral_bind_mount_path: '/var/vcap/data',
      guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
    };
    const locks = createFileLocks(join(dir, 'locks'), silentLogger);
    const records = createVmRecords(actions, silentLogger);
    const teardown = createVmTeardown({
      dirs: actions,
      containers: { destroyIfExists: async (h) => garden.containers.delete(h) },
      ports,
      mounts,
      records,
      locks,
      logger: silentLogger,
    });
    return createVmCreator({
      config: { actions: actions as never, agent: { mbus: 'nats://x', ntp: [] } },
      gardenInitPath: async () => '/usr/bin/true',
      garden,
      mounts,
      settings: createAgentSettingsStore({
        dirs: actions,
        locks,
        legacy: { fetch: async () => undefined, deliver: async () => undefined },
        logger: silentLogger,
      }),
      ports,
      records,
      rootfs: createVmRootfs({ dirs: actions, runner }),
      teardown,
      hostNameservers: async () => ['192.0.2.53'],
      logger: silentLogger,
      newId: () => `vm-${(ids += 1)}`,
    });
  }

  const request = (overrides: Partial<CreateVmRequest> = {}): CreateVmRequest => ({
    agentId: 'agent-1',
    image: { uri: '/stemcells/sc-1' },
    init: 'runit',
    resources: { ports: [parsePortMapping({ host: '2222', container: '22' })] },
    networks: { default: { type: 'dynamic', default: ['dns', 'gateway'] } },
    env: {},
    ...overrides,
  });

  /** A teardown that finds every container already gone: how the tests clean up the VMs they made. */
  function cleanupTeardown() {
    return createVmTeardown({
      dirs: {
        host_ephemeral_bind_mounts_dir: join(dir, 'ephemeral'),
        host_persistent_bind_mounts_dir: join(dir, 'persistent'),
        state_dir: join(dir, 'state'),
      },
      containers: { destroyIfExists: async () => true },
      ports,
      mounts,
      records: { read: async () => undefined },
      locks: createFileLocks(join(dir, 'locks'), silentLogger),
      logger: silentLogger,
    });
  }

  async function hostLeftovers(): Promise<string[]> {
    const names = async (sub: string) => (await readdir(join(dir, sub)).catch(() => [] as string[])).map((n) => `${sub}/${n}`);
    const mounted = (await mounts.mountsUnder(dir)).map((m) => m.target);
    return [
      ...(await names('ephemeral')),
      ...(await names('persistent')),
      ...(await names('state/vms')),
      ...(await names('state/rootfs')),
      ...mounted,
    ];
  }

  it('creates with one container, DNS backfilled, ports to the Garden-assigned IP and a detached start', async () => {
    ids = 0;
    const created = await creator().create(request());
    assert.equal(created.vmCid, 'vm-1');
    assert.deepEqual(created.networks.default?.dns, ['192.0.2.53']);
    // The agent cannot find a dynamic network's address in a Garden container (docs/real-bosh.md): the
    // address Garden chose goes into its settings (both copies) and back to the Director.
    const dynamicAddress = { ip: '10.254.0.2', netmask: '255.255.255.252', gateway: '10.254.0.1', prefix: '30' };
    assert.deepEqual(pick(created.networks.default ?? {}, Object.keys(dynamicAddress)), dynamicAddress);
    for (const file of ['agent-settings.json', 'agent-env.json']) {
      const settings = JSON.parse(await readFile(join(dir, 'state', 'vms', 'vm-1', file), 'utf8')) as {
        networks: Record<string, Record<string, unknown>>;
      };
      assert.deepEqual(
        pick(settings.networks.default ?? {}, [...Object.keys(dynamicAddress), 'preconfigured']),
        { ...dynamicAddress, preconfigured: true },
        file,
      );
    }
    assert.equal(garden.created.length, 1);
    assert.equal(garden.created[0]?.network, '');
    assert.equal(ports.rules.get('vm-1'), '10.254.0.2');
    assert.equal(garden.runs.length, 1);
    assert.match(garden.runs[0]?.args?.[1] ?? '', /exec env -i \/usr\/sbin\/runsvdir-start/);
    assert.ok((await mounts.mountsUnder(join(dir, 'ephemeral', 'vm-1'))).length > 0, 'ephemeral dir bind-mounted');
    // Clean up for the next tests.
    await cleanupTeardown().deleteVm('vm-1');
    assert.deepEqual(await hostLeftovers(), []);
  });

  it('gives each VM of an expanded stemcell its own copy-on-write root, handed to Garden as raw://', async () => {
    ids = 30;
    const stemcell = join(dir, 'stemcell');
    await mkdir(join(stemcell, 'etc'), { recursive: true });
    await writeFile(join(stemcell, 'etc', 'os-release'), 'stemcell\n');
    const made = creator();
    const first = await made.create(request({ image: { rootfsDir: stemcell }, resources: { ports: [] } }));
    const second = await made.create(request({ image: { rootfsDir: stemcell }, resources: { ports: [] } }));
    const roots = [first, second].map(({ vmCid }) => join(dir, 'state', 'rootfs', vmCid, 'root'));
    assert.deepEqual(
      garden.created.map((spec) => spec.image?.uri),
      roots.map((root) => `raw://${root}`),
    );
    // A VM's write lands in its own upper dir: the stemcell and the other VM never see it.
    await writeFile(join(roots[0]!, 'etc', 'os-release'), 'changed by vm 1\n');
    assert.equal(await readFile(join(roots[1]!, 'etc', 'os-release'), 'utf8'), 'stemcell\n');
    assert.equal(await readFile(join(stemcell, 'etc', 'os-release'), 'utf8'), 'stemcell\n');
    for (const { vmCid } of [first, second]) {
      await cleanupTeardown().deleteVm(vmCid);
    }
    assert.deepEqual(await hostLeftovers(), []);
    assert.deepEqual(await readdir(stemcell), ['etc'], 'the stemcell is untouched');
  });

  it('rolls back the copy-on-write root when the container create fails', async () => {
    ids = 40;
    garden.failAt = 'create';
    const stemcell = join(dir, 'stemcell');
    await mkdir(stemcell, { recursive: true });
    await assert.rejects(creator().create(request({ image: { rootfsDir: stemcell } })), /Creating container/);
    assert.deepEqual(await hostLeftovers(), []);
  });

  for (const step of ['create', 'info', 'forward', 'run'] as const) {
    it(`rolls back everything when '${step}' fails`, async () => {
      ids = 10;
      if (step === 'forward') ports.fail = true;
      else garden.failAt = step;
      await assert.rejects(creator().create(request()), (error: Error & { boshType?: string; okToRetry?: boolean }) => {
        assert.equal(error.boshType, 'Bosh::Clouds::CloudError');
        assert.equal(error.okToRetry, false);
        assert.match(error.message, /^Creating VM with agent ID 'agent-1': /);
        return true;
      });
      assert.equal(garden.containers.size, 0, 'no container left');
      assert.equal(ports.rules.size, 0, 'no rules left');
      assert.deepEqual(await hostLeftovers(), []);
    });
  }

  it('answers VMCreationFailed with ok_to_retry when Garden is unreachable', async () => {
    ids = 20;
    garden.failAt = 'create';
    garden.failWith = () => new GardenUnreachable('connect ECONNREFUSED', { route: 'POST /containers', code: 'ECONNREFUSED' });
    await assert.rejects(creator().create(request()), (error: Error & { boshType?: string; okToRetry?: boolean }) => {
      assert.equal(error.boshType, 'Bosh::Clouds::VMCreationFailed');
      assert.equal(error.okToRetry, true);
      return true;
    });
    assert.deepEqual(await hostLeftovers(), []);
  });
});
