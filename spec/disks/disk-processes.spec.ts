import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { BUNDLE } from '../../testkit/cpi-process';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { NO_LEAKS } from '../../testkit/leak-checker';
import { tarFromEntries } from '../../src/garden/garden-tar';
import { createHostMounts } from '../../src/host/mounts';
import { createCommandRunner } from '../../src/host/command-runner';
import { lockSocketName } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import { untilRunningIn } from '../support/until-running-in';
import { manualNetworks } from '../../testkit/networks';

async function persistentSettings(env: CpiEnvironment, vm: string): Promise<unknown> {
  const settings = JSON.parse(await env.shell(vm, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')) as { disks: { persistent: unknown } };
  return settings.disks.persistent;
}

/**
 * Disks through the built bin/cpi, one process per call as the Director runs them, against the Garden
 * emulator in exec mode (real mount namespaces), with real loop devices and mounts.
 */
describe('disks through bin/cpi processes', () => {
  let env: CpiEnvironment;
  let stemcellCid = '';
  const vms: string[] = [];

  before(async () => {
    env = await startCpiEnvironment({ processMode: 'exec' });
    stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
    for (let i = 0; i < 5; i += 1) {
      const [vm] = await env.ok<[string]>('create_vm', [`agent-${i}`, stemcellCid, {}, manualNetworks(`10.244.1.${20 + i}`), [], {}]);
      vms.push(vm);
    }
  });
  after(async () => {
    await env?.close();
  });

  it('attaches 5 disks to 5 VMs from 5 processes at once, each visible in its container only', async () => {
    const disks = await Promise.all(vms.map(() => env.ok<string>('create_disk', [64, {}, null])));
    const hints = await Promise.all(vms.map((vm, i) => env.ok<string>('attach_disk', [vm, disks[i]])));
    for (const [i, vm] of vms.entries()) {
      const disk = disks[i]!;
      assert.equal(hints[i], `/warden-cpi-dev/${disk}`);
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
      assert.deepEqual(await persistentSettings(env, vm), { [disk]: hints[i] });
      await env.shell(vm, `echo vm-${i} > ${hints[i]}/owner`);
      assert.equal((await env.shell(vm, 'ls /warden-cpi-dev')).trim(), disk);
    }
    // A second VM cannot have a disk that is attached elsewhere.
    const refused = await env.call('attach_disk', [vms[1], disks[0]]);
    assert.equal(refused.response.error?.type, 'Bosh::Clouds::CloudError');
    assert.match(refused.response.error?.message ?? '', new RegExp(`already attached to VM '${vms[0]}'`));

    await Promise.all(vms.map((vm, i) => env.ok('detach_disk', [vm, disks[i]])));
    for (const vm of vms) {
      assert.deepEqual(await env.ok('get_disks', [vm]), []);
      assert.deepEqual(await persistentSettings(env, vm), {});
    }
    const notAttached = await env.call('detach_disk', [vms[0], disks[0]]);
    assert.deepEqual(notAttached.response.error?.type, 'Bosh::Clouds::DiskNotAttached');
    assert.equal(notAttached.response.error?.ok_to_retry, false);
    await Promise.all(disks.map((disk) => env.ok('delete_disk', [disk])));
  });

  it('serialises attaches of one disk from parallel processes: one VM wins, the others are refused', async () => {
    const disk = await env.ok<string>('create_disk', [64, {}, null]);
    const runs = await Promise.all(vms.slice(0, 3).map((vm) => env.call('attach_disk', [vm, disk])));
    const winners = runs.filter((run) => run.response.error === null);
    assert.equal(winners.length, 1, JSON.stringify(runs.map((run) => run.response.error)));
    const winner = vms[runs.indexOf(winners[0]!)]!;
    for (const run of runs.filter((r) => r.response.error !== null)) {
      assert.match(run.response.error?.message ?? '', new RegExp(`already attached to VM '${winner}'`));
    }
    assert.deepEqual(await env.ok('get_disks', [winner]), [disk]);
    await env.ok('detach_disk', [winner, disk]);
    await env.ok('delete_disk', [disk]);
  });

  it('completes a detach whose process was killed while the disk was busy', async () => {
    const [vm] = vms;
    const disk = await env.ok<string>('create_disk', [64, {}, vm]);
    await env.ok('attach_disk', [vm, disk]);
    const hostPath = join(env.dirs.persistentDir, vm!, disk);
    const holder = spawn('sleep', ['600'], { cwd: hostPath, stdio: 'ignore' });
    try {
      await untilRunningIn(holder.pid!, hostPath);
      const detach = spawn(process.execPath, [BUNDLE, env.configPath], {
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      detach.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      detach.stdin.end(
        JSON.stringify({ method: 'detach_disk', arguments: [vm, disk], context: { director_uuid: 'x', request_id: 'cpi-kill' }, api_version: 2 }),
      );
      // Kill it in its busy-retry loop, holding the disk lock.
      for (let i = 0; i < 600 && !/busy/i.test(stderr); i += 1) await new Promise((done) => setTimeout(done, 10));
      assert.match(stderr, /busy/i);
      // The disk lock is held: its abstract socket is bound (src/host/file-lock.ts).
      const socketName = lockSocketName(join(env.dirs.stateDir, 'locks', `disk-${disk}.lock`)).slice(1);
      assert.ok((await readFile('/proc/net/unix', 'utf8')).includes(`@${socketName}`), 'the disk lock is held');
      detach.kill('SIGKILL');
      await new Promise((done) => detach.once('close', done));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((done) => holder.once('close', done));
    }
    await env.ok('detach_disk', [vm, disk]);
    assert.deepEqual(await env.ok('get_disks', [vm]), []);
    assert.deepEqual(await persistentSettings(env, vm!), {});
    await env.ok('delete_disk', [disk]);
  });

  it('names the process holding a busy disk when detach gives up', async () => {
    const [, vm] = vms;
    const disk = await env.ok<string>('create_disk', [64, {}, vm]);
    const hint = await env.ok<string>('attach_disk', [vm, disk]);
    const holder = spawn('sleep', ['600'], { cwd: join(env.dirs.persistentDir, vm!, disk), stdio: 'ignore' });
    try {
      await untilRunningIn(holder.pid!, join(env.dirs.persistentDir, vm!, disk));
      const run = await env.call('detach_disk', [vm, disk]);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(
        run.response.error?.message ?? '',
        new RegExp(`still busy after \\d+ unmount attempts; held by: pid ${holder.pid} \\(sleep 600\\)`),
      );
      assert.equal(run.response.error?.ok_to_retry, true);
      // Still attached and recorded: nothing half-done.
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
      assert.deepEqual(await persistentSettings(env, vm!), { [disk]: hint });
    } finally {
      holder.kill('SIGKILL');
      await new Promise((done) => holder.once('close', done));
    }
    await env.ok('detach_disk', [vm, disk]);
    await env.ok('delete_disk', [disk]);
  });

  it('unmounts inside the VM what the agent left mounted there (its /var/vcap/store bind) at detach; no other VM may attach it before', async () => {
    const [, , , vm] = vms;
    const disk = await env.ok<string>('create_disk', [64, {}, vm]);
    const hint = await env.ok<string>('attach_disk', [vm, disk]);
    // What the agent's mount_disk does with the hint; its unmount_disk leaves this bind (docs/real-bosh.md).
    await env.shell(vm!, `mkdir -p /var/vcap/store && mount --bind ${hint} /var/vcap/store && echo kept > /var/vcap/store/f`);
    // Nobody else may mount it meanwhile.
    const [, , , , other] = vms;
    const refused = await env.call('attach_disk', [other, disk]);
    assert.match(refused.response.error?.message ?? '', /is already attached to VM/);

    await env.ok('detach_disk', [vm, disk]);
    assert.equal((await env.shell(vm!, 'if grep -q " /var/vcap/store " /proc/self/mountinfo; then echo mounted; else echo gone; fi')).trim(), 'gone');
    assert.deepEqual(await persistentSettings(env, vm!), {});
    await env.ok('attach_disk', [other, disk]);
    assert.equal((await env.shell(other!, `cat ${hint}/f`)).trim(), 'kept');
    await env.ok('detach_disk', [other, disk]);
    await env.ok('delete_disk', [disk]);
  });

  it('works with a disk made the upstream way (an ext4 image by hand at <disks_dir>/<uuid>) through every method', async () => {
    const [, , vm] = vms;
    const disk = randomUUID();
    const image = join(env.dirs.disksDir, disk);
    execFileSync('mkdir', ['-p', env.dirs.disksDir]);
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-F', '-q', image]);

    assert.equal(await env.ok('has_disk', [disk]), true);
    await env.ok('set_disk_metadata', [disk, { director: 'd', deployment: 'dep', instance_index: 0 }]);
    const metadata = JSON.parse(await readFile(join(env.dirs.stateDir, 'disks', disk, 'metadata.json'), 'utf8')) as unknown;
    assert.deepEqual(metadata, { director: 'd', deployment: 'dep', instance_index: 0 });

    const hint = await env.ok<string>('attach_disk', [vm, disk]);
    assert.equal(await env.ok<string>('attach_disk', [vm, disk]), hint, 'attaching again answers the same hint');
    assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
    await env.shell(vm!, `echo upstream-data > ${hint}/file && sync`);
    const resizeAttached = await env.call('resize_disk', [disk, 128]);
    assert.equal(resizeAttached.response.error?.type, 'Bosh::Clouds::NotSupported');
    const liveSnapshot = await env.ok<string>('snapshot_disk', [disk, { index: 1 }]);
    await env.shell(vm!, `echo still-writable > ${hint}/after`);
    await env.ok('detach_disk', [vm, disk]);

    await env.ok('resize_disk', [disk, 128]);
    assert.equal(await env.ok('update_disk', [disk, 192, {}]), null);
    assert.equal((await stat(image)).size, 192 * 1024 * 1024);
    const shrink = await env.call('update_disk', [disk, 100, {}]);
    assert.equal(shrink.response.error?.type, 'Bosh::Clouds::NotSupported');
    const snapshot = await env.ok<string>('snapshot_disk', [disk, {}]);

    const [, , , vm2] = vms;
    await env.ok('attach_disk', [vm2, disk]);
    assert.equal((await env.shell(vm2!, `cat ${hint}/file ${hint}/after`)).trim(), 'upstream-data\nstill-writable');
    const blocks = (await env.shell(vm2!, `stat -f -c '%b %S' ${hint}`)).trim().split(' ').map(Number);
    assert.ok(blocks[0]! * blocks[1]! > 150 * 1024 * 1024, `filesystem is ${blocks[0]! * blocks[1]!} bytes after growing to 192 MiB`);
    await env.ok('detach_disk', [vm2, disk]);

    // The live snapshot is a clean filesystem holding what was written before it.
    const snapshotImage = join(env.dirs.disksDir, 'snapshots', liveSnapshot);
    execFileSync('e2fsck', ['-f', '-n', snapshotImage], { stdio: 'ignore' });
    const dump = execFileSync('debugfs', ['-R', 'cat /file', snapshotImage], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(dump, 'upstream-data\n');

    for (const cid of [liveSnapshot, snapshot]) await env.ok('delete_snapshot', [cid]);
    await env.ok('delete_snapshot', [snapshot]);
    await env.ok('delete_disk', [disk]);
    assert.equal(await env.ok('has_disk', [disk]), false);
    await env.ok('delete_disk', [disk]);
  });

  it('counts Garden connections: one (info) for our VMs, at most 3 for a VM made by the upstream CPI', async () => {
    const [, , , , vm] = vms;
    const disk = await env.ok<string>('create_disk', [64, {}, null]);
    let before = env.garden.connectionCount();
    await env.ok('attach_disk', [vm, disk]);
    await env.ok('detach_disk', [vm, disk]);
    // Our VMs: Garden only says whether the container exists; the settings file is bind-mounted.
    assert.equal(env.garden.connectionCount() - before, 2, 'one info request each for attach and detach');

    // A VM as upstream leaves it: persistent dir bound onto itself shared, settings only inside the container.
    const upstreamVm = randomUUID();
    const persistentDir = join(env.dirs.persistentDir, upstreamVm);
    const mounts = createHostMounts(createCommandRunner(), silentLogger);
    execFileSync('mkdir', ['-p', persistentDir]);
    await mounts.bindOntoItself(persistentDir, { unbindableFirst: true });
    try {
      await env.client.create({
        handle: upstreamVm,
        image: { uri: join(env.dirs.stemcellsDir, stemcellCid) },
        bind_mounts: [{ src_path: persistentDir, dst_path: '/warden-cpi-dev', mode: 1 }],
        network: '10.244.1.40/24',
        privileged: true,
      });
      const upstreamSettings = {
        agent_id: 'a',
        vm: { name: upstreamVm, id: upstreamVm },
        mbus: 'nats://x',
        ntp: [],
        networks: {},
        disks: { system: '', ephemeral: null, persistent: null },
        env: {},
      };
      await env.client.streamIn(
        upstreamVm,
        { destination: '/var/vcap/bosh/', user: 'root' },
        tarFromEntries([{ name: 'warden-cpi-agent-env.json', content: JSON.stringify(upstreamSettings), mode: 0o640 }]),
      );

      before = env.garden.connectionCount();
      const hint = await env.ok<string>('attach_disk', [upstreamVm, disk]);
      assert.ok(env.garden.connectionCount() - before <= 3, `attach used ${env.garden.connectionCount() - before} connections`);
      assert.deepEqual(await persistentSettings(env, upstreamVm), { [disk]: hint });
      await env.shell(upstreamVm, `echo hi > ${hint}/x`);

      before = env.garden.connectionCount();
      await env.ok('detach_disk', [upstreamVm, disk]);
      assert.ok(env.garden.connectionCount() - before <= 3, `detach used ${env.garden.connectionCount() - before} connections`);
      assert.deepEqual(await persistentSettings(env, upstreamVm), {});

      const unknown = await env.call('attach_disk', [randomUUID(), disk]);
      assert.equal(unknown.response.error?.type, 'Bosh::Clouds::VMNotFound');
      const unknownDisk = await env.call('attach_disk', [upstreamVm, randomUUID()]);
      assert.equal(unknownDisk.response.error?.type, 'Bosh::Clouds::DiskNotFound');
    } finally {
      await env.client.destroy(upstreamVm).catch(() => undefined);
      await mounts.unmountRecursive(persistentDir);
      execFileSync('rm', ['-rf', persistentDir]);
    }
    await env.ok('delete_disk', [disk]);
  });

  it('leaves no mounts, loop devices or lock files once the VMs are deleted', async () => {
    for (const vm of vms) await env.ok('delete_vm', [vm]);
    await env.ok('delete_stemcell', [stemcellCid]);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });
});
