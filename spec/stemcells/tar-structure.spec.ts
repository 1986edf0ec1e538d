import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarStructureError, TarWalker } from '../../src/stemcells/tar-structure';

/** Feeds `archive` to a walker in chunks of `size` bytes (odd sizes cross every header boundary). */
function walk(archive: Buffer, size: number): TarWalker {
  const walker = new TarWalker();
  for (let offset = 0; offset < archive.length; offset += size) walker.update(archive.subarray(offset, offset + size));
  walker.finish();
  return walker;
}

const CHUNKS = [1, 7, 511, 512, 513, 4096, 16384, 1 << 20];

describe('TarWalker', () => {
  let root = '';
  const archives = new Map<string, Buffer>();
  const entryCounts = new Map<string, number>();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tar-structure-'));
    const tree = join(root, 'tree');
    const long = join(tree, 'a'.repeat(60), 'b'.repeat(60));
    await mkdir(long, { recursive: true });
    await writeFile(join(tree, 'random.bin'), randomBytes(3000));
    await writeFile(join(tree, 'exactly-512'), randomBytes(512));
    await writeFile(join(tree, 'empty'), '');
    await writeFile(join(long, `${'c'.repeat(90)}.txt`), 'a long name\n');
    await symlink('random.bin', join(tree, 'symlink'));
    await link(join(tree, 'random.bin'), join(tree, 'hardlink'));
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    execFileSync('mknod', [join(tree, 'null-device'), 'c', '1', '3']);
    // A sparse file: GNU tar -S stores only its data (type 'S' in the gnu formats, pax records in posix).
    execFileSync('truncate', ['-s', '3M', join(tree, 'sparse')]);
    execFileSync('sh', ['-c', `printf 'middle' | dd of='${join(tree, 'sparse')}' bs=1 seek=1500000 conv=notrunc status=none`]);
    for (const format of ['gnu', 'oldgnu', 'posix', 'ustar']) {
      const path = join(root, `${format}.tar`);
      const extra = format === 'ustar' ? ['--exclude', 'a*'] : ['-S'];
      execFileSync('tar', ['--format', format, ...extra, '-cf', path, '-C', tree, '.']);
      archives.set(format, await readFile(path));
      entryCounts.set(format, execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).trim().split('\n').length);
    }
    // Sparse entries with many holes need GNU extension headers (oldgnu keeps 4 in the header).
    const holes = join(root, 'holes');
    await mkdir(holes);
    execFileSync('truncate', ['-s', '10M', join(holes, 'swiss')]);
    for (let index = 0; index < 12; index += 1) {
      execFileSync('sh', ['-c', `printf 'x' | dd of='${join(holes, 'swiss')}' bs=1 seek=${index * 800000} conv=notrunc status=none`]);
    }
    const sparse = join(root, 'sparse.tar');
    execFileSync('tar', ['--format', 'oldgnu', '-S', '-cf', sparse, '-C', holes, '.']);
    archives.set('oldgnu-extended-sparse', await readFile(sparse));
    entryCounts.set('oldgnu-extended-sparse', 2);
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('accepts whole archives of every GNU tar format, in any chunking, counting their entries', () => {
    for (const [format, archive] of archives) {
      for (const size of CHUNKS) assert.equal(walk(archive, size).entries, entryCounts.get(format), `${format} in ${size}-byte chunks`);
    }
  });

  /** Where the end-of-archive blocks start: after the last non-zero byte, rounded up to a block. */
  function endOfEntries(archive: Buffer): number {
    let last = archive.length - 1;
    while (last >= 0 && archive[last] === 0) last -= 1;
    return Math.ceil((last + 1) / 512) * 512;
  }

  it('refuses an archive cut short anywhere: in a header, in data, at an entry boundary, between the end blocks', () => {
    for (const format of ['gnu', 'posix']) {
      const archive = archives.get(format)!;
      const end = endOfEntries(archive);
      for (const cut of [1, 100, 512, 600, 1024 + 37, Math.floor(end / 2), end - 1, end, end + 512]) {
        assert.throws(() => walk(archive.subarray(0, cut), 4096), TarStructureError, `${format} cut at ${cut} of ${archive.length}`);
      }
      assert.throws(() => walk(archive.subarray(0, end), 512), /no end-of-archive blocks after \d+ entries/);
      assert.throws(() => walk(archive.subarray(0, 700), 512), /cut short in the data of '\.\/'|cut short/);
    }
  });

  it('names the entry whose data is cut short', async () => {
    const tree = join(root, 'one');
    await mkdir(tree);
    await writeFile(join(tree, 'big-file'), randomBytes(100_000));
    const archive = execFileSync('tar', ['--format', 'gnu', '-cf', '-', '-C', tree, 'big-file']);
    assert.throws(
      () => walk(archive.subarray(0, 50_000), 4096),
      /cut short in the data of 'big-file' \(entry 1\): \d+ more bytes expected after byte 50000/,
    );
  });

  it('refuses a corrupt header checksum, a bad size field, a lone zero block and data after the end', () => {
    const archive = Buffer.from(archives.get('gnu')!);
    const flipped = Buffer.from(archive);
    flipped[3] = flipped[3]! ^ 0x01; // a name byte of the first header
    assert.throws(() => walk(flipped, 4096), /bad header checksum at byte 0 \(after 0 entries\)/);

    const badSize = Buffer.from(archive);
    badSize.write('9999', 124, 'latin1'); // not octal; the checksum is recomputed so only the size is wrong
    badSize.fill(0x20, 148, 156);
    let sum = 0;
    for (let index = 0; index < 512; index += 1) sum += badSize[index]!;
    badSize.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.throws(() => walk(badSize, 4096), /bad size field in the header at byte 0/);

    const end = endOfEntries(archive);
    // Directories carry no data, so in this archive the second header is the second block.
    const dirs = execFileSync('tar', ['--format', 'gnu', '--no-recursion', '-cf', '-', '-C', root, '.', 'tree']);
    const withLone = Buffer.concat([dirs.subarray(0, 512), Buffer.alloc(512), dirs.subarray(512)]);
    assert.throws(() => walk(withLone, 4096), /a lone zero block before the header at byte 1024/);

    const garbage = Buffer.concat([archive, Buffer.from('trailing garbage')]);
    assert.throws(() => walk(garbage, 4096), /data after the end-of-archive blocks/);
    // Zero padding after the end blocks (tar's record size) is fine.
    assert.equal(walk(Buffer.concat([archive.subarray(0, end + 1024), Buffer.alloc(20 * 512)]), 4096).entries, entryCounts.get('gnu'));
  });

  it('refuses what is not a tar at all', () => {
    assert.throws(() => walk(Buffer.from('hello, '.repeat(2000)), 4096), /bad header checksum at byte 0/);
    assert.throws(() => walk(Buffer.alloc(0), 4096), /no end-of-archive blocks after 0 entries/);
  });
});
