// What the CPI relies on from Garden, checked on a real gdn through the built bin/cpi (runs only in the
// real-Garden pass of scripts/test.mjs: GARDEN_UNDER_TEST=real).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { gardenUnderTest } from '../../testkit/garden-under-test';
import { NO_LEAKS } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const run = promisify(execFile);

async function sh(env: CpiEnvironment, vm: string, script: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const result = await env.client.exec(vm, { path: '/bin/sh', args: ['-c', script], user: 'root' });
  return { status: result.exitStatus, stdout: result.stdout, stderr: result.stderr };
}

/** The host's cgroup mounts (target, options), to prove no container remounted them. */
async function hostCgroupMounts(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[4]?.startsWith('/sys/fs/cgroup') === true)
    .map((fields) => `${fields[4]} ${fields[5]}`)
    .sort();
}

const garden = gardenUnderTest();

describe(
  'what the CPI relies on from a real gdn',
  { skip: garden.kind !== 'real' && 'runs only against a real gdn (npm run test:real-garden)' },
  () => {
    let env: CpiEnvironment;
    let stemcellCid: string;
    let cgroupsBefore: string[];

    before(async () => {
      cgroupsBefore = await hostCgroupMounts();
      env = await startCpiEnvironment({ garden });
      stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
    });
    after(async () => {
      await env?.close();
    });

    it('boots an expanded stemcell through its symlinked cid as a raw:// copy-on-write root', async () => {
      assert.match(await readlink(join(env.dirs.stemcellsDir, stemcellCid)), /^\.data-[0-9a-f]{40}-dir$/);
      const [vm] = await env.ok<[string]>('create_vm', ['agent-rootfs', stemcellCid, {}, manualNetworks('10.244.1.10'), [], {}]);
      const info = await env.client.info(vm);
      assert.equal(info.ContainerIP, '10.244.1.10');
      await env.shell(vm, 'echo written-by-the-vm > /etc/vm-file');
      assert.equal(
        await readFile(join(env.dirs.stateDir, 'rootfs', vm, 'upper', 'etc', 'vm-file'), 'utf8'),
        'written-by-the-vm\n',
        "the VM's write lands in its own upper dir",
      );
      const stemcellDir = join(env.dirs.stemcellsDir, stemcellCid);
      assert.equal(await readFile(join(stemcellDir, 'etc', 'vm-file'), 'utf8').catch(() => 'absent'), 'absent', 'not in the stemcell');
      await env.ok('delete_vm', [vm]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });

    it('delivers the agent settings as a read-only file at boot, visible before the agent starts', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-settings', stemcellCid, {}, manualNetworks('10.244.1.11'), [], {}]);
      // The fake agent copies the file as its first act: the settings were there when the start ran.
      await env.shell(vm, 'for i in $(seq 100); do [ -f /var/vcap/data/agent-started.json ] && exit 0; sleep 0.1; done; exit 1');
      const settings = JSON.parse(await env.shell(vm, 'cat /var/vcap/data/agent-started.json')) as { agent_id: string };
      assert.equal(settings.agent_id, 'agent-settings');
      const write = await sh(env, vm, 'echo tampered >> /var/vcap/bosh/warden-cpi-agent-env.json');
      assert.notEqual(write.status, 0, 'the settings file is read-only inside the VM');
      assert.match(write.stderr, /Read-only file system/);
      await env.ok('delete_vm', [vm]);
    });

    it('propagates a disk mounted after the container started, and shows settings rewritten in place', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-disk', stemcellCid, {}, manualNetworks('10.244.1.12'), [], {}]);
      const disk = await env.ok<string>('create_disk', [64, {}, vm]);
      const hint = await env.ok<string>('attach_disk', [vm, disk]);
      await env.shell(vm, `echo on-the-disk > ${hint}/file && sync`);
      assert.match(await env.shell(vm, `grep -c ' ${hint} ' /proc/self/mountinfo`), /^1/, 'the disk is a mount inside the VM');
      const inside = JSON.parse(await env.shell(vm, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')) as {
        disks: { persistent: Record<string, string> };
      };
      assert.deepEqual(inside.disks.persistent, { [disk]: hint });
      await env.ok('detach_disk', [vm, disk]);
      assert.equal((await sh(env, vm, `cat ${hint}/file`)).status === 0, false, 'detached: the file is gone from the VM');
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });

    it('reboot_vm: stop keeps the container, and a process started after it runs (the agent starts again)', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-reboot', stemcellCid, {}, manualNetworks('10.244.1.13'), [], {}]);
      await env.shell(vm, 'for i in $(seq 100); do [ -f /var/vcap/data/agent-started.json ] && exit 0; sleep 0.1; done; exit 1');
      await env.shell(vm, 'rm /var/vcap/data/agent-started.json');
      await env.ok('reboot_vm', [vm]);
      await env.shell(vm, 'for i in $(seq 100); do [ -f /var/vcap/data/agent-started.json ] && exit 0; sleep 0.1; done; exit 1');
      assert.equal(await env.ok('has_vm', [vm]), true);
      await env.ok('delete_vm', [vm]);
    });

    it('set_vm_metadata: the properties are on the container, as an operator listing containers sees them', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-meta', stemcellCid, {}, manualNetworks('10.244.1.14'), [], {}]);
      await env.ok('set_vm_metadata', [vm, { director: 'd', deployment: 'dep', name: 'zookeeper/0', index: 0 }]);
      const properties = await env.client.properties(vm);
      assert.equal(properties['bosh.name'], 'zookeeper/0');
      assert.equal(properties['bosh.index'], '0');
      assert.equal(properties['bosh.agent_id'], 'agent-meta');
      assert.deepEqual(await env.client.list({ 'bosh.deployment': 'dep' }), [vm]);
      await env.ok('delete_vm', [vm]);
    });

    it('ports: a host port forwarded by DNAT reaches a server in the VM from another host (a network namespace)', async () => {
      const hostPort = 28000 + (process.pid % 1000);
      const [vm] = await env.ok<[string]>('create_vm', [
        'agent-ports',
        stemcellCid,
        { ports: [{ host: hostPort, container: 8080 }] },
        manualNetworks('10.244.1.15'),
        [],
        {},
      ]);
      await env.shell(vm, 'mkdir -p /srv && echo served-from-the-vm > /srv/index.html && (httpd -p 8080 -h /srv &) && sleep 0.3');
      // A client host: its own network namespace, linked to this host by a veth pair.
      const ns = `gcpi-client-${process.pid}`;
      const hostSide = `gcpih${process.pid % 100000}`;
      const clientSide = `gcpic${process.pid % 100000}`;
      const ip = (...args: string[]) => run('ip', args);
      try {
        await ip('netns', 'add', ns);
        await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', clientSide);
        await ip('link', 'set', clientSide, 'netns', ns);
        await ip('addr', 'add', '198.18.0.1/30', 'dev', hostSide);
        await ip('link', 'set', hostSide, 'up');
        await ip('-n', ns, 'addr', 'add', '198.18.0.2/30', 'dev', clientSide);
        await ip('-n', ns, 'link', 'set', clientSide, 'up');
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
        await ip('-n', ns, 'route', 'add', 'default', 'via', '198.18.0.1');
        const { stdout } = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '10', `http://198.18.0.1:${hostPort}/index.html`]);
        assert.equal(stdout, 'served-from-the-vm\n');
      } finally {
        await ip('link', 'del', hostSide).catch(() => undefined);
        await ip('netns', 'del', ns).catch(() => undefined);
      }
      await env.ok('delete_vm', [vm]);
      const { stdout: rules } = await run('iptables-save', ['-t', 'nat']);
      assert.doesNotMatch(rules, new RegExp(vm), 'delete_vm removed the DNAT rule');
    });

    it(
      'systemd as PID 1: not started here',
      {
        skip: 'no systemd stemcell among the test fixtures yet (the real-agent issue builds one); the CPI never mounts the host /sys/fs/cgroup, checked below',
      },
      () => undefined,
    );

    it("leaves the host's cgroup mounts as they were and nothing behind", async () => {
      await env.ok('delete_stemcell', [stemcellCid]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
      assert.deepEqual(await hostCgroupMounts(), cgroupsBefore);
    });
  },
);
