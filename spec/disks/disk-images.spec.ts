import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDiskImages } from '../../src/disks/disk-images';
import { CommandFailed, createCommandRunner, type CommandRunner } from '../../src/host/command-runner';
import { silentLogger } from '../../src/log/logger';
import { DiskNotFound, NotSupported } from '../../src/errors/cpi-errors';
import { makeDiskFixture, readText, type DiskFixture } from './disk-fixture';

const MIB = 1024 * 1024;

function dfBlocksKb(dir: string): number {
  const line = execFileSync('df', ['-k', '--output=size', dir], { encoding: 'utf8' }).trim().split('\n')[1];
  return Number(line);
}

describe('DiskImages (real images)', () => {
  let fixture: DiskFixture;
  before(async () => {
    fixture = await makeDiskFixture('disk-images-spec-');
  });
  after(async () => fixture.cleanup());

  it('creates a sparse ext4 image of exactly size_mb MiB under a UUID cid', async () => {
    const { images } = fixture.services;
    const cid = await images.create(1024);
    assert.match(cid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const image = join(fixture.config.disks_dir, cid);
    const info = await stat(image);
    assert.equal(info.size, 1024 * MIB);
    // Sparse: not even the 32 MiB journal is allocated (lazy_journal_init=1; mke2fs's default zeroes it).
    assert.ok(info.blocks * 512 < 4 * MIB, `expected a sparse file, ${info.blocks * 512} bytes allocated`);
    assert.match(execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', image], { encoding: 'utf8' }), /ext4/);
    // Every group's inode table is marked zeroed, so no ext4lazyinit pass runs after the first mount.
    const groups = execFileSync('dumpe2fs', [image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const groupLines = groups.split('\n').filter((line) => /^Group \d+:/.test(line));
    assert.ok(groupLines.length > 0 && groupLines.every((line) => line.includes('ITABLE_ZEROED')), groupLines[0]);
    assert.equal(await images.exists(cid), true);
    assert.equal(await images.sizeBytes(cid), 1024 * MIB);
    assert.deepEqual(
      (await readdir(fixture.config.disks_dir)).filter((name) => name.startsWith('.')),
      [],
    );
  });

  it('removes the half-made file when mkfs fails', async () => {
    const real = createCommandRunner();
    const failingMkfs: CommandRunner = {
      async run(command, args, options) {
        if (command === 'mkfs.ext4') throw new CommandFailed(command, args, 1, 'mkfs exploded');
        return real.run(command, args, options);
      },
    };
    const config = { ...fixture.config, disks_dir: join(fixture.root, 'failing-disks') };
    const images = createDiskImages({ config, runner: failingMkfs, newId: () => 'doomed', logger: silentLogger });
    await assert.rejects(images.create(16), /Creating disk 'doomed' of 16 MiB: Making ext4 filesystem: .*mkfs exploded/);
    assert.deepEqual(await readdir(config.disks_dir), []);
  });

  it('says a directory or a missing file is not a disk', async () => {
    await mkdir(join(fixture.config.disks_dir, 'snapshots'), { recursive: true });
    assert.equal(await fixture.services.images.exists('snapshots'), false);
    assert.equal(await fixture.services.images.exists('no-such-disk'), false);
  });

  it('removes nothing for a cid that names a directory, such as the snapshots dir, as for an unknown cid', async () => {
    const snapshots = join(fixture.config.disks_dir, 'snapshots');
    await mkdir(snapshots, { recursive: true });
    await writeFile(join(snapshots, 'kept-snapshot'), 'image');
    await fixture.services.images.remove('snapshots');
    assert.equal(await readFile(join(snapshots, 'kept-snapshot'), 'utf8'), 'image');
    await fixture.services.images.remove('no-such-disk');
  });

  it('grows the image and its filesystem (df grows after mount), keeping the data', async () => {
    const { images } = fixture.services;
    const cid = await images.create(32);
    const image = join(fixture.config.disks_dir, cid);
    const target = join(fixture.root, `grow-${cid}`);
    await mkdir(target);
    await fixture.mounts.mountImage(image, target);
    await writeFile(join(target, 'data'), 'kept');
    const before = dfBlocksKb(target);
    await fixture.mounts.unmount(target);

    await images.grow(cid, 96);
    assert.equal((await stat(image)).size, 96 * MIB);
    await fixture.mounts.mountImage(image, target);
    try {
      const grown = dfBlocksKb(target);
      assert.ok(grown > before * 2.5, `df size ${before} KiB -> ${grown} KiB`);
      assert.equal(await readText(join(target, 'data')), 'kept');
    } finally {
      await fixture.mounts.unmount(target);
    }
    // Growing to the same size again (a retry after a crash) is harmless.
    await images.grow(cid, 96);
  });

  it('refuses to shrink (NotSupported) and reports unknown disks (DiskNotFound)', async () => {
    const { images } = fixture.services;
    const cid = await images.create(32);
    await assert.rejects(images.grow(cid, 16), (error: Error) => error instanceof NotSupported && /shrinking/.test(error.message));
    assert.equal(await images.sizeBytes(cid), 32 * MIB);
    await assert.rejects(images.grow('missing', 64), DiskNotFound);
  });

  it('removes the image and its records; an unknown cid is a no-op', async () => {
    const { images, metadata } = fixture.services;
    const cid = await images.create(16);
    await metadata.write(cid, { deployment: 'd' });
    await images.remove(cid);
    assert.equal(await images.exists(cid), false);
    assert.equal(await metadata.read(cid), undefined);
    await images.remove(cid);
  });
});
