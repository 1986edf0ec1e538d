import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGardenClient } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import { DYNAMIC_NETWORK, MANUAL_NETWORK, RUNIT_STEMCELL, SYSTEMD_STEMCELL, startVmFixture, type VmFixture } from './vm-fixture';

// The built bundle (`npm run build`), spawned once per call as the Director does, against the Garden
// emulator (scripted processes), with real bind mounts and real iptables in a private netns.

type Json = Record<string, unknown>;

describe('VM lifecycle through the bundle', () => {
  let fx: VmFixture;
  let actions: Record<string, string>;

  before(async () => {
    fx = await startVmFixture();
    actions = fx.config.actions;
  });
  after(() => fx.close());

  /** Runs a call and counts the Garden connections it opened. */
  async function counted(method: string, args: unknown[], extra?: Json) {
    const before = fx.emulator.connectionCount();
    const requestsBefore = fx.emulator.requests.length;
    const run = await fx.call(method, args, extra);
    return {
      run,
      response: run.response,
      connections: fx.emulator.connectionCount() - before,
      requests: fx.emulator.requests.slice(requestsBefore),
    };
  }

  async function hostLeftovers(): Promise<string[]> {
    const names = async (path: string) => (await readdir(path).catch(() => [] as string[])).map((name) => `${path}/${name}`);
    return [
      ...(await names(actions.host_ephemeral_bind_mounts_dir!)),
      ...(await names(actions.host_persistent_bind_mounts_dir!)),
      ...(await names(join(actions.state_dir!, 'vms'))),
      ...(await names(join(actions.state_dir!, 'rootfs'))),
      ...fx.mountsUnderDir(),
    ];
  }

  async function assertNothingLeft(): Promise<void> {
    assert.deepEqual(fx.emulator.containerHandles(), [], 'no container');
    assert.deepEqual(await hostLeftovers(), [], 'no dir, mount or record');
    assert.deepEqual(fx.natRules(), [], 'no iptables rule');
  }

  it('creates a VM on a manual network with one Garden create and one detached start, then deletes it', async () => {
    const env = { bosh: { password: 'secret', mbus: { cert: { ca: 'x' } } } };
    const created = await counted('create_vm', ['agent-1', RUNIT_STEMCELL, { unknown_key: 1 }, MANUAL_NETWORK, [], env]);
    assert.equal(created.response.error, null, created.run.stderr);
    const [cid, networks] = created.response.result as [string, Json];
    assert.match(cid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(networks, MANUAL_NETWORK, 'networks as sent (DNS already set: nothing backfilled)');
    assert.equal(created.connections, 2);
    assert.deepEqual(
      created.requests.map((r) => `${r.method} ${r.path}`),
      ['POST /containers', `POST /containers/${cid}/processes`],
    );

    const ephemeral = join(actions.host_ephemeral_bind_mounts_dir!, cid);
    const persistent = join(actions.host_persistent_bind_mounts_dir!, cid);
    const delivered = join(actions.state_dir!, 'vms', cid, 'agent-env.json');
    assert.deepEqual(created.requests[0]?.body, {
      handle: cid,
      image: { uri: `raw://${join(actions.state_dir!, 'rootfs', cid, 'root')}` },
      privileged: true,
      network: '10.244.0.34/24',
      bind_mounts: [
        { src_path: ephemeral, dst_path: '/var/vcap/data', mode: 1 },
        { src_path: persistent, dst_path: '/warden-cpi-dev', mode: 1 },
        { src_path: delivered, dst_path: '/var/vcap/bosh/warden-cpi-agent-env.json', mode: 0 },
        { src_path: fx.gardenInitPath, dst_path: '/var/vcap/data/garden-init', mode: 0 },
      ],
      properties: { 'bosh.agent_id': 'agent-1', 'garden-cpi.owner': 'garden-cpi', 'garden-cpi.init': 'runit' },
      limits: { bandwidth_limits: {}, cpu_limits: {}, disk_limits: {}, memory_limits: {}, pid_limits: {} },
    });

    const start = created.requests[1]?.body as { path: string; args: string[]; user: string };
    assert.equal(start.path, '/bin/sh');
    assert.equal(start.user, 'root');
    assert.match(
      start.args[1] ?? '',
      /umount \/etc\/resolv\.conf[\s\S]*mkdir -p \/var\/vcap\/data\/sys[\s\S]*exec env -i \/usr\/sbin\/runsvdir-start$/,
    );
    // Detached: the CPI never waited for an exit status (the process is still running in the emulator).
    assert.equal(fx.emulator.containerState(cid)?.processes[0]?.state, 'running');

    const settings = JSON.parse(await readFile(delivered, 'utf8')) as Json;
    assert.deepEqual(settings, {
      agent_id: 'agent-1',
      vm: { name: cid, id: cid },
      mbus: (fx.config.agent as Json).mbus,
      ntp: [],
      networks: { default: { ...MANUAL_NETWORK.default, preconfigured: true } },
      disks: { system: '', ephemeral: '/var/vcap/data', persistent: {} },
      env,
    });
    assert.equal(await readFile(join(actions.state_dir!, 'vms', cid, 'agent-settings.json'), 'utf8'), await readFile(delivered, 'utf8'));

    const mounts = fx.mountsUnderDir();
    assert.ok(mounts.includes(ephemeral) && mounts.includes(persistent), `bind mounts: ${mounts.join(', ')}`);
    const propagation = await readFile('/proc/self/mountinfo', 'utf8');
    for (const dir of [ephemeral, persistent]) {
      const line = propagation.split('\n').find((l) => l.split(' ')[4] === dir) ?? '';
      assert.match(line, / shared:\d+/, `${dir} is a shared mount`);
    }

    const deleted = await counted('delete_vm', [cid]);
    assert.equal(deleted.response.error, null, deleted.run.stderr);
    assert.equal(deleted.connections, 1);
    await assertNothingLeft();

    const again = await counted('delete_vm', [cid]);
    assert.equal(again.response.error, null, 'deleting a deleted VM succeeds');
    assert.equal(again.connections, 1);
  });

  it('delete_vm unmounts an attached disk (loop device released) and never deletes the disk image', async () => {
    const created = await fx.call('create_vm', ['agent-d', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    const [cid] = created.response.result as [string];
    const disks = await mkdtemp(join(tmpdir(), 'cpi-vm-disk-'));
    const image = join(disks, 'disk-1');
    const probe = join(disks, 'probe');
    try {
      execFileSync('truncate', ['-s', '16M', image]);
      execFileSync('mkfs.ext4', ['-F', '-q', image]);
      // What attach_disk does: loop-mount the image below the VM's persistent dir.
      const target = join(actions.host_persistent_bind_mounts_dir!, cid, 'disk-1');
      await mkdir(target);
      execFileSync('mount', ['-o', 'loop', image, target]);
      execFileSync('sh', ['-c', `echo data > '${target}/file'`]);

      const deleted = await fx.call('delete_vm', [cid]);
      assert.equal(deleted.response.error, null, deleted.stderr);
      await assertNothingLeft();
      assert.equal(execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim(), '', 'loop device released');
      await mkdir(probe);
      execFileSync('mount', ['-o', 'loop,ro', image, probe]);
      try {
        assert.equal(await readFile(join(probe, 'file'), 'utf8'), 'data\n', 'the disk kept its data');
      } finally {
        execFileSync('umount', [probe]);
      }
    } finally {
      await rm(disks, { recursive: true, force: true });
    }
  });

  it('answers the bare cid under API v1', async () => {
    const created = await counted('create_vm', ['agent-1', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}], { api_version: 1 });
    assert.equal(typeof created.response.result, 'string');
    await fx.call('delete_vm', [created.response.result]);
    await assertNothingLeft();
  });

  it('dynamic network: "" to Garden, DNS backfilled from the host, ports DNAT to the assigned IP (2 connections)', async () => {
    const props = {
      ports: [
        { host: 2222, container: 22 },
        { host: '1000:1002', protocol: 'udp' },
      ],
      memory_mb: 256,
      cpu: 1,
      ephemeral_disk_mb: 64,
    };
    const created = await counted('create_vm', ['agent-2', RUNIT_STEMCELL, props, DYNAMIC_NETWORK, [], {}]);
    assert.equal(created.response.error, null, created.run.stderr);
    const [cid, networks] = created.response.result as [string, { default: { dns?: string[] } }];
    assert.deepEqual(
      created.requests.map((r) => `${r.method} ${r.path}`),
      ['POST /containers', `GET /containers/${cid}/info`, `POST /containers/${cid}/processes`],
    );
    // create and info share one keep-alive connection; the process start has its own.
    assert.equal(created.connections, 2);
    const body = created.requests[0]?.body as Json;
    assert.equal(body.network, '');
    assert.deepEqual(body.limits, {
      bandwidth_limits: {},
      cpu_limits: { weight: 1024 },
      disk_limits: { byte_hard: 64 * 1024 * 1024, scope: 1 },
      memory_limits: { limit_in_bytes: 256 * 1024 * 1024 },
      pid_limits: {},
    });
    const resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    const hostDns = resolv
      .split('\n')
      .filter((l) => /^\s*nameserver\s/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    assert.deepEqual(networks.default.dns, hostDns);

    const containerIp = fx.emulator.containerState(cid)?.network.containerIp ?? '';
    const rules = fx.natRules();
    assert.equal(rules.length, 2, rules.join('\n'));
    assert.ok(rules.every((rule) => rule.includes(`bosh-warden-cpi-${cid}`)));
    assert.ok(
      rules.some((rule) => rule.includes('--dport 2222') && rule.includes(`--to-destination ${containerIp}:22`)),
      `${containerIp}: ${rules.join('\n')}`,
    );

    await fx.call('delete_vm', [cid]);
    await assertNothingLeft();
  });

  it('concurrent create_vm and delete_vm calls (separate processes) keep every rule and leave nothing', async () => {
    const creates = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        fx.call('create_vm', [`agent-p${i}`, RUNIT_STEMCELL, { ports: [{ host: 3000 + i }, { host: 4000 + i }] }, DYNAMIC_NETWORK, [], {}]),
      ),
    );
    const cids = creates.map((run) => {
      assert.equal(run.response.error, null, run.stderr);
      return (run.response.result as [string])[0];
    });
    assert.equal(fx.natRules().length, 8);
    assert.equal(new Set(fx.emulator.containerHandles()).size, 4);
    const deletes = await Promise.all(cids.map((cid) => fx.call('delete_vm', [cid])));
    for (const run of deletes) assert.equal(run.response.error, null, run.stderr);
    await assertNothingLeft();
  });

  it('multiple networks: Garden gets the gateway-default one, the agent gets all', async () => {
    const networks = {
      first: { type: 'manual', ip: '10.245.0.10', netmask: '255.255.0.0', gateway: '10.245.0.1', cloud_properties: {} },
      second: { ...MANUAL_NETWORK.default, ip: '10.244.0.40' },
    };
    const created = await counted('create_vm', ['agent-3', RUNIT_STEMCELL, {}, networks, [], {}]);
    assert.equal(created.response.error, null, created.run.stderr);
    const [cid] = created.response.result as [string];
    assert.equal((created.requests[0]?.body as Json).network, '10.244.0.40/24');
    const settings = JSON.parse(await readFile(join(actions.state_dir!, 'vms', cid, 'agent-env.json'), 'utf8')) as { networks: Record<string, Json> };
    assert.deepEqual(Object.keys(settings.networks).sort(), ['first', 'second']);
    assert.equal(settings.networks.first?.preconfigured, true);
    await fx.call('delete_vm', [cid]);
    await assertNothingLeft();
  });

  it('systemd stemcell: init chosen per VM (env to the wrapper), no host cgroup mount, only /etc/hosts released', async () => {
    const created = await counted('create_vm', ['agent-4', SYSTEMD_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(created.response.error, null, created.run.stderr);
    const [cid] = created.response.result as [string];
    const body = created.requests[0]?.body as { env?: string[]; bind_mounts: { dst_path: string }[]; properties: Json };
    assert.deepEqual(body.env, ['BOSH_WARDEN_INIT=systemd']);
    assert.equal(body.properties['garden-cpi.init'], 'systemd');
    assert.ok(!body.bind_mounts.some((mount) => mount.dst_path.startsWith('/sys')));
    assert.ok(body.bind_mounts.some((mount) => mount.dst_path === '/var/vcap/data/garden-init'));
    const start = created.requests[1]?.body as { args: string[] };
    assert.equal(start.args[1], 'umount /etc/hosts 2>/dev/null');

    const reboot = await counted('reboot_vm', [cid]);
    assert.equal(reboot.response.error, null);
    assert.deepEqual(
      reboot.requests.map((r) => `${r.method} ${r.path}`),
      [`PUT /containers/${cid}/stop`, `POST /containers/${cid}/processes`],
    );
    assert.deepEqual(reboot.requests[0]?.body, { kill: false });
    await fx.call('delete_vm', [cid]);
    await assertNothingLeft();
  });

  it('has_vm, set_vm_metadata and reboot_vm (runit) on a live VM', async () => {
    const created = await fx.call('create_vm', ['agent-5', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    const [cid] = created.response.result as [string];

    const has = await counted('has_vm', [cid]);
    assert.equal(has.response.result, true);
    assert.equal(has.connections, 1);
    const hasNot = await counted('has_vm', ['no-such-vm']);
    assert.equal(hasNot.response.result, false);
    assert.equal(hasNot.connections, 1);

    const metadata = await counted('set_vm_metadata', [cid, { director: 'bosh', index: 0, name: 'zookeeper/0' }]);
    assert.equal(metadata.response.error, null);
    const properties = fx.emulator.containerState(cid)?.properties ?? {};
    assert.equal(properties['bosh.index'], '0');
    assert.equal(properties['bosh.name'], 'zookeeper/0');
    // One info request (whether the container exists, and its properties: gdn answers 200 to setting a
    // property of a container it does not have), then one request per changed key, all on one connection.
    assert.equal(metadata.connections, 1);

    const reboot = await counted('reboot_vm', [cid]);
    assert.equal(reboot.response.error, null, reboot.run.stderr);
    assert.equal(reboot.connections, 2);
    assert.match((reboot.requests[1]?.body as { args: string[] }).args[1] ?? '', /runsvdir-start/);
    const missing = await counted('reboot_vm', ['no-such-vm']);
    assert.equal(missing.response.error?.type, 'Bosh::Clouds::VMNotFound');

    await fx.call('delete_vm', [cid]);
    await assertNothingLeft();
  });

  it('refuses an unknown stemcell and a request without networks, touching nothing', async () => {
    const unknown = await counted('create_vm', ['agent-6', 'no-such-stemcell', {}, MANUAL_NETWORK, [], {}]);
    assert.equal(unknown.response.error?.type, 'Bosh::Clouds::CloudError');
    assert.match(unknown.response.error?.message ?? '', /Expected to find stemcell 'no-such-stemcell'/);
    const none = await counted('create_vm', ['agent-6', RUNIT_STEMCELL, {}, {}, [], {}]);
    assert.match(none.response.error?.message ?? '', /Expected exactly one network; received zero/);
    assert.equal(unknown.connections + none.connections, 0);
    await assertNothingLeft();
  });

  const failures: {
    name: string;
    fault?: Parameters<VmFixture['emulator']['injectFault']>[0];
    props?: Json;
    network?: Json;
    type: string;
    retry: boolean;
  }[] = [
    {
      name: 'Garden create fails',
      fault: { method: 'POST', path: '/containers', message: 'insufficient subnets remaining in the pool' },
      type: 'Bosh::Clouds::CloudError',
      retry: false,
    },
    {
      name: 'Garden drops the create',
      fault: { method: 'POST', path: '/containers', drop: true },
      type: 'Bosh::Clouds::VMCreationFailed',
      retry: true,
    },
    {
      name: 'Garden is unavailable at the check',
      fault: { method: 'GET', path: '/containers/:handle/info', errorType: 'ServiceUnavailableError', message: 'busy' },
      network: DYNAMIC_NETWORK,
      props: { ports: [{ host: 80 }] },
      type: 'Bosh::Clouds::VMCreationFailed',
      retry: true,
    },
    {
      name: 'a port rule fails',
      props: { ports: [{ host: 80 }, { host: 81, protocol: 'no-such-protocol' }] },
      type: 'Bosh::Clouds::CloudError',
      retry: false,
    },
    {
      name: 'the agent start fails',
      fault: { method: 'POST', path: '/containers/:handle/processes', message: 'container init PID was 0' },
      props: { ports: [{ host: 80 }] },
      type: 'Bosh::Clouds::CloudError',
      retry: false,
    },
  ];
  for (const failure of failures) {
    it(`rolls everything back when ${failure.name}`, async () => {
      if (failure.fault) fx.emulator.injectFault({ ...failure.fault, times: 1 });
      try {
        const created = await counted('create_vm', ['agent-7', RUNIT_STEMCELL, failure.props ?? {}, failure.network ?? MANUAL_NETWORK, [], {}]);
        assert.equal(created.response.result, null);
        assert.equal(created.response.error?.type, failure.type, created.response.error?.message);
        assert.equal(created.response.error?.ok_to_retry, failure.retry);
        assert.match(created.response.error?.message ?? '', /^Creating VM with agent ID 'agent-7': /);
        await assertNothingLeft();
      } finally {
        fx.emulator.clearFaults();
      }
    });
  }

  it('an expanded stemcell gets a raw:// overlay root per VM, removed by delete_vm', async () => {
    const created = await counted('create_vm', ['agent-rootfs', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(created.response.error, null, created.run.stderr);
    const [cid] = created.response.result as [string];
    const root = join(actions.state_dir!, 'rootfs', cid, 'root');
    const spec = created.requests.find((r) => r.method === 'POST' && r.path === '/containers')?.body as { image?: { uri?: string } } | undefined;
    assert.equal(spec?.image?.uri, `raw://${root}`);
    assert.ok(fx.mountsUnderDir().includes(root), 'the overlay is mounted');
    assert.equal((await fx.call('delete_vm', [cid])).response.error, null);
    await assertNothingLeft();
  });

  it('a VM made by the upstream CPI (container and host dirs, no records, no root of ours) deletes cleanly', async () => {
    const cid = 'upstream-made-vm';
    const ephemeral = join(actions.host_ephemeral_bind_mounts_dir!, cid);
    const persistent = join(actions.host_persistent_bind_mounts_dir!, cid);
    for (const dir of [ephemeral, persistent]) {
      await mkdir(dir, { recursive: true });
      execFileSync('mount', ['--bind', dir, dir]);
    }
    const client = createGardenClient({ network: 'unix', address: fx.emulator.address.address, logger: silentLogger });
    // Upstream hands Garden the stemcell dir itself.
    await client.create({ handle: cid, image: { uri: join(actions.stemcells_dir!, RUNIT_STEMCELL) }, privileged: true, network: '' });
    assert.equal((await fx.call('delete_vm', [cid])).response.error, null);
    await assertNothingLeft();
  });

  it('a create_vm killed mid-way is rolled back by the next create_vm', async () => {
    // Hold the agent start long enough to kill the CPI after the container exists.
    fx.emulator.injectFault({ method: 'POST', path: '/containers/:handle/processes', delayMs: 5000, times: 1 });
    const seen = fx.emulator.requests.length;
    const { child, done } = fx.spawnCall('create_vm', ['agent-8', RUNIT_STEMCELL, { ports: [{ host: 8080 }] }, MANUAL_NETWORK, [], {}]);
    const startRequested = () => fx.emulator.requests.slice(seen).some((r) => r.method === 'POST' && r.path.endsWith('/processes'));
    for (let i = 0; i < 1000 && !startRequested(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const [leaked] = fx.emulator.containerHandles();
    assert.ok(leaked, 'the killed call had created its container');
    child.kill('SIGKILL');
    await done;
    fx.emulator.clearFaults();
    assert.equal(fx.natRules().length, 1, 'the killed call left its rule');
    assert.ok(fx.mountsUnderDir().length >= 2, 'and its mounts');

    const next = await fx.call('create_vm', ['agent-9', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(next.response.error, null, next.stderr);
    const [cid] = next.response.result as [string];
    assert.deepEqual(fx.emulator.containerHandles(), [cid], 'the leaked container is gone');
    assert.deepEqual(fx.natRules(), []);
    await fx.call('delete_vm', [cid]);
    await assertNothingLeft();
  });
});
