import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDiskFixture, makeExt4ByHand, readText, type DiskFixture } from './disk-fixture';

/** Waits until `unshare` has made its namespace and exec'd the command (polls, no fixed sleep). */
async function untilInOwnNamespace(pid: number): Promise<void> {
  const ours = await readlink('/proc/self/ns/mnt');
  for (let i = 0; i < 500; i += 1) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    const theirs = await readlink(`/proc/${pid}/ns/mnt`).catch(() => ours);
    if (comm.trim() === 'sleep' && theirs !== ours) return;
    await new Promise((done) => setTimeout(done, 10));
  }
  throw new Error('unshare did not start');
}

describe('DiskAttachments (real loop mounts and propagation)', () => {
  let fixture: DiskFixture;
  before(async () => {
    fixture = await makeDiskFixture('disk-attachments-spec-');
  });
  after(async () => fixture.cleanup());

  it('mounts a disk under the VM dir, finds it by image and by VM, and unmounts it', async () => {
    const { attachments, images } = fixture.services;
    const vm = randomUUID();
    const { persistentDir } = await fixture.makeVm(vm);
    const disk = await images.create(32);
    assert.deepEqual(await attachments.mountsOf(disk), []);
    assert.deepEqual(await attachments.disksOf(vm), []);

    await attachments.mount(vm, disk);
    const target = join(persistentDir, disk);
    assert.deepEqual(await attachments.mountsOf(disk), [{ target, vmCid: vm }]);
    assert.deepEqual(await attachments.disksOf(vm), [disk]);
    await writeFile(join(target, 'f'), 'x');

    assert.equal(await attachments.unmount(vm, disk), true);
    assert.deepEqual(await attachments.mountsOf(disk), []);
    assert.deepEqual(await attachments.disksOf(vm), []);
    assert.deepEqual(await fixture.mounts.loopDevicesFor(join(fixture.config.disks_dir, disk)), []);
    await assert.rejects(stat(target), { code: 'ENOENT' });
    assert.equal(await attachments.unmount(vm, disk), false);
  });

  it('reports a mount outside any VM dir with vmCid null', async () => {
    const { attachments, images } = fixture.services;
    const disk = await images.create(16);
    const elsewhere = join(fixture.root, 'elsewhere');
    await mkdir(elsewhere);
    await fixture.mounts.mountImage(join(fixture.config.disks_dir, disk), elsewhere);
    try {
      assert.deepEqual(await attachments.mountsOf(disk), [{ target: elsewhere, vmCid: null }]);
    } finally {
      await fixture.mounts.unmount(elsewhere);
    }
  });

  it('propagates the mount into a running mount namespace that was made before the attach (a container)', async () => {
    const { attachments } = fixture.services;
    const vm = randomUUID();
    const { persistentDir } = await fixture.makeVm(vm);
    // A disk made by hand with upstream's layout: any ext4 image at <disks_dir>/<uuid>.
    const disk = randomUUID();
    await mkdir(fixture.config.disks_dir, { recursive: true });
    makeExt4ByHand(join(fixture.config.disks_dir, disk), 16);

    const container = spawn('unshare', ['--mount', '--propagation', 'slave', 'sleep', '300'], { stdio: 'ignore' });
    try {
      await untilInOwnNamespace(container.pid!);
      const inContainer = (...command: string[]): string =>
        execFileSync('nsenter', ['-t', String(container.pid), '-m', '--', ...command], { encoding: 'utf8' });
      await attachments.mount(vm, disk);
      await writeFile(join(persistentDir, disk, 'note'), 'written on the host');
      assert.equal(inContainer('cat', join(persistentDir, disk, 'note')), 'written on the host');

      inContainer('sh', '-c', `echo from-container > ${join(persistentDir, disk, 'back')}`);
      assert.equal(await readText(join(persistentDir, disk, 'back')), 'from-container\n');

      assert.deepEqual(await attachments.strayMounts(disk), [], 'mounted on the host: nothing stray');
      // What the agent does: bind the disk onto /var/vcap/store inside the container.
      inContainer('sh', '-c', `mkdir -p ${fixture.root}/store && mount --bind ${join(persistentDir, disk)} ${fixture.root}/store`);
      await attachments.unmount(vm, disk);
      assert.deepEqual(await attachments.strayMounts(disk), [`pid ${container.pid} at '${fixture.root}/store'`]);
      inContainer('umount', `${fixture.root}/store`);
      assert.deepEqual(await attachments.strayMounts(disk), []);
      assert.doesNotMatch(inContainer('cat', '/proc/self/mountinfo'), new RegExp(disk));
      assert.deepEqual(await fixture.mounts.loopDevicesFor(join(fixture.config.disks_dir, disk)), []);
    } finally {
      container.kill('SIGKILL');
    }
  });
});
