import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { mountsUnder } from '../../testkit/leak-checker';

const run = promisify(execFile);
const NETWORKS = { default: { type: 'dynamic', cloud_properties: {} } };

function loopDevicesOf(image: string): string {
  return execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();
}

/**
 * Host hardening through the built bin/cpi: what a VM can write never steers the CPI on the host (issue
 * #16 kind 2), a frozen disk never outlives the call that froze it (kind 6), the store dirs are root's alone
 * (kind 8).
 */
describe('host hardening through bin/cpi', () => {
  let env: CpiEnvironment;
  let stemcellCid = '';
  let hostDir = '';

  before(async () => {
    env = await startCpiEnvironment();
    stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
    // A host dir with content, standing for anything on the host a VM would like to cover or remove.
    hostDir = await mkdtemp(join(tmpdir(), 'host-victim-'));
    await writeFile(join(hostDir, 'precious'), 'host data\n');
  });
  after(async () => {
    for (const target of (await mountsUnder([hostDir])).sort((a, b) => b.length - a.length)) {
      await run('umount', ['-l', target]).catch(() => undefined);
    }
    await rm(hostDir, { recursive: true, force: true });
    await env?.close();
  });

  async function newVm(): Promise<string> {
    const [vm] = await env.ok<[string]>('create_vm', ['agent', stemcellCid, {}, NETWORKS, [], {}]);
    return vm;
  }

  describe('kind 2: nothing a VM writes steers the CPI', () => {
    it('attach_disk onto a /warden-cpi-dev/<disk> the VM made a symlink to a host dir mounts at the real path only', async () => {
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      const hostPath = join(env.dirs.persistentDir, vm, disk);
      await symlink(hostDir, hostPath); // what the VM does inside its /warden-cpi-dev
      assert.equal(await env.ok('attach_disk', [vm, disk]), `/warden-cpi-dev/${disk}`);
      assert.deepEqual(await mountsUnder([hostDir]), [], 'the host dir is not mounted over');
      assert.equal(await readFile(join(hostDir, 'precious'), 'utf8'), 'host data\n');
      assert.ok((await lstat(hostPath)).isDirectory(), 'the symlink was replaced by a dir of the CPI');
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
      await env.ok('detach_disk', [vm, disk]);
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
    });

    it('detach_disk of a never-attached disk whose path is a symlink to a host mount: DiskNotAttached, the mount stays', async () => {
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      const tmpfs = join(hostDir, 'tmpfs');
      await mkdir(tmpfs, { recursive: true });
      await run('mount', ['-t', 'tmpfs', 'victim', tmpfs]);
      try {
        await symlink(tmpfs, join(env.dirs.persistentDir, vm, disk));
        const detach = await env.call('detach_disk', [vm, disk]);
        assert.equal(detach.response.error?.type, 'Bosh::Clouds::DiskNotAttached', JSON.stringify(detach.response));
        assert.deepEqual(await mountsUnder([tmpfs]), [tmpfs], 'the host tmpfs is still mounted');
        await env.ok('delete_vm', [vm]);
        assert.deepEqual(await mountsUnder([tmpfs]), [tmpfs], 'delete_vm left it alone too');
      } finally {
        await run('umount', [tmpfs]).catch(() => undefined);
      }
      await env.ok('delete_disk', [disk]);
    });

    it('a disk image that is a symlink to a host file is no disk: has_disk false, every disk call DiskNotFound, the file intact', async () => {
      const victim = join(hostDir, 'victim-file');
      await writeFile(victim, 'x'.repeat(4096));
      const vm = await newVm();
      await mkdir(env.dirs.disksDir, { recursive: true });
      await symlink(victim, join(env.dirs.disksDir, 'linked-disk'));
      assert.equal(await env.ok('has_disk', ['linked-disk']), false);
      for (const [method, args] of [
        ['attach_disk', [vm, 'linked-disk']],
        ['snapshot_disk', ['linked-disk', {}]],
        ['resize_disk', ['linked-disk', 64]],
      ] as const) {
        const answer = await env.call(method, [...args]);
        assert.equal(answer.response.error?.type, 'Bosh::Clouds::DiskNotFound', `${method}: ${JSON.stringify(answer.response)}`);
      }
      assert.equal(await readFile(victim, 'utf8'), 'x'.repeat(4096));
      assert.equal(loopDevicesOf(victim), '');
      await env.ok('delete_disk', ['linked-disk']);
      assert.equal(await readFile(victim, 'utf8'), 'x'.repeat(4096), 'delete_disk removed the link, not the file');
      await env.ok('delete_vm', [vm]);
    });

    it('an agent-settings record that is a symlink is refused, never written through', async () => {
      const victim = join(hostDir, 'settings-victim');
      await writeFile(victim, 'do not touch\n');
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      const delivered = join(env.dirs.stateDir, 'vms', vm, 'agent-env.json');
      await unlink(delivered);
      await symlink(victim, delivered);
      const attach = await env.call('attach_disk', [vm, disk]);
      assert.equal(attach.response.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(attach.response.error?.message ?? '', /symlink/);
      assert.equal(await readFile(victim, 'utf8'), 'do not touch\n');
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
    });

    it('a stemcell cid that is a symlink to anything but its .data- name is no stemcell: create_vm makes nothing', async () => {
      await symlink('/', join(env.dirs.stemcellsDir, 'host-root'));
      const before = await env.containerHandles();
      const create = await env.call('create_vm', ['agent', 'host-root', {}, NETWORKS, [], {}]);
      assert.ok(create.response.error !== null, JSON.stringify(create.response));
      assert.deepEqual(await env.containerHandles(), before);
      await env.ok('delete_stemcell', ['host-root']);
      assert.ok((await stat('/etc/hostname').catch(() => stat('/etc'))) !== undefined, 'the host root is untouched');
    });

    it("delete_vm never follows what the VM wrote into its root's upper dir or its /var/vcap/data", async () => {
      const vm = await newVm();
      // As the VM would: symlinks to host paths, written as root into its own layers.
      await symlink(hostDir, join(env.dirs.stateDir, 'rootfs', vm, 'upper', 'escape'));
      await symlink(join(hostDir, 'precious'), join(env.dirs.stateDir, 'rootfs', vm, 'upper', 'escape-file'));
      await symlink(hostDir, join(env.dirs.ephemeralDir, vm, 'escape'));
      await symlink(hostDir, join(env.dirs.persistentDir, vm, 'escape'));
      await env.ok('delete_vm', [vm]);
      assert.equal(await readFile(join(hostDir, 'precious'), 'utf8'), 'host data\n');
      await assert.rejects(lstat(join(env.dirs.stateDir, 'rootfs', vm)), { code: 'ENOENT' });
    });
  });

  describe('kind 6: a frozen disk never outlives the call that froze it', () => {
    /** What a snapshot_disk killed mid-copy leaves: the attached disk's filesystem frozen, no marker. */
    function freezeAttached(vm: string, disk: string): void {
      execFileSync('fsfreeze', ['--freeze', join(env.dirs.persistentDir, vm, disk)]);
    }

    it('delete_vm of a VM whose disk was left frozen: the loop device is released, delete_disk leaves no (deleted) device', async () => {
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      await env.ok('attach_disk', [vm, disk]);
      freezeAttached(vm, disk);
      await env.ok('delete_vm', [vm]);
      const image = join(env.dirs.disksDir, disk);
      assert.equal(loopDevicesOf(image), '', 'no loop device bound after delete_vm');
      await env.ok('delete_disk', [disk]);
      assert.doesNotMatch(execFileSync('losetup', ['-a'], { encoding: 'utf8' }), new RegExp(disk));
    });

    it('detach_disk of a disk left frozen: thawed, unmounted and released', async () => {
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      await env.ok('attach_disk', [vm, disk]);
      freezeAttached(vm, disk);
      await env.ok('detach_disk', [vm, disk]);
      assert.equal(loopDevicesOf(join(env.dirs.disksDir, disk)), '');
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
    });

    it('delete_disk of a disk whose frozen filesystem was unmounted under it (older CPI): released before the image goes', async () => {
      const disk = await env.ok<string>('create_disk', [32, {}, null]);
      const image = join(env.dirs.disksDir, disk);
      const mountPoint = await mkdtemp(join(tmpdir(), 'frozen-'));
      execFileSync('mount', ['-o', 'loop', image, mountPoint]);
      execFileSync('fsfreeze', ['--freeze', mountPoint]);
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true });
      assert.notEqual(loopDevicesOf(image), '', 'the frozen filesystem keeps the loop device bound');
      await env.ok('delete_disk', [disk]);
      assert.doesNotMatch(execFileSync('losetup', ['-a'], { encoding: 'utf8' }), new RegExp(disk));
    });
  });

  describe("kind 8: the store dirs are root's alone", () => {
    it('stemcells_dir, disks_dir, state_dir, the bind-mount roots and the rootfs dir are 0700, even when found 0755', async () => {
      for (const dir of [env.dirs.stemcellsDir, env.dirs.stateDir, env.dirs.ephemeralDir, env.dirs.persistentDir]) {
        await mkdir(dir, { recursive: true });
        await chmod(dir, 0o755);
      }
      await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
      const vm = await newVm();
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      for (const dir of [
        env.dirs.stemcellsDir,
        env.dirs.disksDir,
        env.dirs.stateDir,
        env.dirs.ephemeralDir,
        env.dirs.persistentDir,
        join(env.dirs.stateDir, 'rootfs'),
        join(env.dirs.stateDir, 'rootfs', vm),
      ]) {
        assert.equal((await stat(dir)).mode & 0o777, 0o700, dir);
      }
      // What the VM traverses stays open for its users.
      assert.equal((await stat(join(env.dirs.ephemeralDir, vm))).mode & 0o777, 0o755);
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
    });

    it('a setuid-root binary in an imported stemcell cannot be run by another host user; a 0777 tar root becomes 0755', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'suid-stemcell-'));
      // Host users reach the store's parent, as they reach /var/vcap/store (0755).
      await chmod(env.dir, 0o755);
      try {
        const rootfs = join(dir, 'rootfs');
        await mkdir(rootfs);
        await run('cp', ['/usr/bin/id', join(rootfs, 'suid-id')]);
        await chmod(join(rootfs, 'suid-id'), 0o4755);
        await chmod(rootfs, 0o777);
        const image = join(dir, 'image');
        await run('sh', ['-c', 'tar --numeric-owner -cf - -C "$1" . | gzip -1 > "$2"', 'sh', rootfs, image]);
        const cid = await env.ok<string>('create_stemcell', [image, null]);
        const asNobody = await run('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--',
          '/bin/sh',
          '-c',
          'exec "$0" -u',
          join(env.dirs.stemcellsDir, cid, 'suid-id'),
        ]).then(
          (result) => result.stdout.trim(),
          (error: { stderr?: string }) => `refused: ${error.stderr ?? ''}`,
        );
        assert.match(asNobody, /^refused: .*Permission denied/);
        assert.equal((await stat(join(env.dirs.stemcellsDir, cid))).mode & 0o777, 0o755, 'the rootfs root is not world-writable');
        await env.ok('delete_stemcell', [cid]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
