import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { diskPaths, snapshotPaths } from '../../src/disks/disk-paths';
import { makeDiskFixture, readText, type DiskFixture } from './disk-fixture';

function fsckClean(image: string): void {
  execFileSync('e2fsck', ['-f', '-n', image], { stdio: 'ignore' }); // throws on any non-zero exit
}

describe('DiskSnapshots (real copies, fsfreeze)', () => {
  let fixture: DiskFixture;
  before(async () => {
    fixture = await makeDiskFixture('disk-snapshots-spec-');
  });
  after(async () => fixture.cleanup());

  async function readFromImage(image: string, file: string): Promise<string> {
    const target = join(fixture.root, `read-${randomUUID()}`);
    await mkdir(target);
    await fixture.mounts.mountImage(image, target);
    try {
      return await readText(join(target, file));
    } finally {
      await fixture.mounts.unmount(target);
    }
  }

  it('copies a detached disk sparsely; the copy holds the data; metadata (integers too) is kept', async () => {
    const { images, snapshots, attachments } = fixture.services;
    const vm = randomUUID();
    await fixture.makeVm(vm);
    const disk = await images.create(256);
    await attachments.mount(vm, disk);
    await writeFile(join(fixture.config.host_persistent_bind_mounts_dir, vm, disk, 'data'), 'v1');
    await attachments.unmount(vm, disk);

    const snapshot = await snapshots.take(disk, { deployment: 'dep', index: 3 }, null);
    const paths = snapshotPaths(fixture.config, snapshot);
    assert.equal(paths.image, join(fixture.config.disks_dir, 'snapshots', snapshot));
    const info = await stat(paths.image);
    assert.equal(info.size, 256 * 1024 * 1024);
    assert.ok(info.blocks * 512 < 16 * 1024 * 1024, 'the copy stays sparse');
    fsckClean(paths.image);
    assert.equal(await readFromImage(paths.image, 'data'), 'v1');
    const record = JSON.parse(await readFile(paths.metadataFile, 'utf8')) as Record<string, unknown>;
    assert.equal(record.disk_cid, disk);
    assert.deepEqual(record.metadata, { deployment: 'dep', index: 3 });

    await snapshots.remove(snapshot);
    await assert.rejects(stat(paths.image), { code: 'ENOENT' });
    await assert.rejects(stat(paths.stateDir), { code: 'ENOENT' });
    await snapshots.remove(snapshot);
  });

  it('freezes an attached disk around the copy, so the copy is clean, and thaws it', async () => {
    const { images, snapshots, attachments } = fixture.services;
    const vm = randomUUID();
    await fixture.makeVm(vm);
    const disk = await images.create(64);
    await attachments.mount(vm, disk);
    const target = join(fixture.config.host_persistent_bind_mounts_dir, vm, disk);
    try {
      await writeFile(join(target, 'data'), 'live');
      const snapshot = await snapshots.take(disk, {}, target);
      // Thawed: writing works, and a second freeze/thaw pair succeeds.
      await writeFile(join(target, 'after'), 'x');
      execFileSync('fsfreeze', ['--freeze', target]);
      execFileSync('fsfreeze', ['--unfreeze', target]);
      const image = snapshotPaths(fixture.config, snapshot).image;
      fsckClean(image);
      assert.equal(await readFromImage(image, 'data'), 'live');
      await assert.rejects(stat(diskPaths(fixture.config, disk).frozenMarker), { code: 'ENOENT' });
    } finally {
      await attachments.unmount(vm, disk);
    }
  });

  it('thaws a filesystem left frozen by a process that died mid-snapshot', async () => {
    const { images, snapshots, attachments } = fixture.services;
    const vm = randomUUID();
    await fixture.makeVm(vm);
    const disk = await images.create(32);
    await attachments.mount(vm, disk);
    const target = join(fixture.config.host_persistent_bind_mounts_dir, vm, disk);
    const paths = diskPaths(fixture.config, disk);
    try {
      await mkdir(paths.stateDir, { recursive: true });
      await writeFile(paths.frozenMarker, target);
      execFileSync('fsfreeze', ['--freeze', target]);
      await snapshots.thawLeftover(disk);
      // Not frozen any more: unfreezing again fails with EINVAL.
      assert.throws(() => execFileSync('fsfreeze', ['--unfreeze', target], { stdio: 'ignore' }));
      await assert.rejects(stat(paths.frozenMarker), { code: 'ENOENT' });
    } finally {
      try {
        execFileSync('fsfreeze', ['--unfreeze', target], { stdio: 'ignore' });
      } catch {
        // already thawed
      }
      await attachments.unmount(vm, disk);
    }
  });
});
