import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandImage, gunzipImage, ImageUnpackError } from '../../src/stemcells/image-unpacker';
import { silentLogger } from '../../src/log/logger';
import { buildRandomImage, buildRawImage, buildRootfsImage, recordingLogger, sha1File } from './stemcell-fixture';

const options = { logger: silentLogger };

/** Every entry with type, mode, owner, link target, link count, size, device numbers and xattrs. */
function describeTree(dir: string): string {
  const entries = execFileSync('find', ['.', '-printf', '%P|%y|%m|%U|%G|%l|%n|%s\n'], { cwd: dir, encoding: 'utf8' })
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('|'))
    .map((line) => {
      const [path = '', type] = line.split('|');
      return type === 'c' || type === 'b' ? `${line}|${execFileSync('stat', ['-c', '%t:%T', path], { cwd: dir, encoding: 'utf8' }).trim()}` : line;
    })
    .sort();
  const xattrs = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '.'], { cwd: dir, encoding: 'utf8' });
  return `${entries.join('\n')}\n${xattrs}`;
}

describe('expandImage', () => {
  let root: string;
  let image: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'unpacker-spec-'));
    image = await buildRootfsImage(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  for (const strategy of ['zlib', 'gzip-child'] as const) {
    it(`${strategy}: unpacks exactly as GNU tar --same-owner --xattrs does: owners, modes, links, devices, xattrs`, async () => {
      const ours = join(root, `ours-${strategy}`);
      const reference = join(root, `reference-${strategy}`);
      await mkdir(ours);
      await mkdir(reference);
      const result = await expandImage(image, ours, { ...options, strategy });
      execFileSync('tar', ['--same-owner', '--xattrs', '--xattrs-include=*', '-xzf', image, '-C', reference]);
      assert.equal(describeTree(ours), describeTree(reference));
      assert.equal(result.sha1, sha1File(image));
      assert.equal(result.bytesRead, (await stat(image)).size);
      // And the things that matter, spelled out.
      assert.equal(execFileSync('stat', ['-c', '%F %t:%T', join(ours, 'dev/null')], { encoding: 'utf8' }).trim(), 'character special file 1:3');
      assert.equal(execFileSync('stat', ['-c', '%F %t:%T', join(ours, 'dev/loop-fixture')], { encoding: 'utf8' }).trim(), 'block special file 7:c8');
      assert.equal(execFileSync('stat', ['-c', '%U:%g %a', join(ours, 'etc/shadow')], { encoding: 'utf8' }).trim(), 'root:42 640');
      assert.equal(execFileSync('stat', ['-c', '%u:%g', join(ours, 'var/vcap')], { encoding: 'utf8' }).trim(), '1000:1000');
      assert.equal((await stat(join(ours, 'usr/sbin/ping'))).ino, (await stat(join(ours, 'usr/sbin/ping-hardlink'))).ino);
      assert.match(execFileSync('getcap', [join(ours, 'usr/sbin/ping')], { encoding: 'utf8' }), /cap_net_raw[=+]ep/);
      assert.match(execFileSync('getfattr', ['-d', join(ours, 'etc/hostname')], { encoding: 'utf8' }), /user.stemcell="fixture"/);
    });
  }

  it('logs progress for large images, with bytes read and percent', async () => {
    const logger = recordingLogger();
    const target = join(root, 'progress');
    await mkdir(target);
    await expandImage(image, target, { logger, progressMinBytes: 0, progressIntervalMs: 0 });
    const progress = logger.lines.filter((line) => line.message === 'Importing stemcell image');
    assert.ok(progress.length > 0);
    assert.equal(progress[0]?.level, 'info');
    assert.equal(typeof progress[0]?.meta?.bytes_read, 'number');
    assert.equal(typeof progress[0]?.meta?.percent, 'number');
  });

  it('does not log progress for images under the threshold', async () => {
    const logger = recordingLogger();
    const target = join(root, 'quiet');
    await mkdir(target);
    await expandImage(image, target, { logger, progressIntervalMs: 0 });
    assert.equal(logger.lines.filter((line) => line.message === 'Importing stemcell image').length, 0);
  });
});

describe('expandImage keeps every write inside the target', () => {
  let root: string;
  let outside: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'unpacker-escape-spec-'));
    outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'original');
  });
  after(() => rm(root, { recursive: true, force: true }));

  const cases: { name: string; entries: (outside: string) => Parameters<typeof buildRawImage>[1]; fails: boolean }[] = [
    { name: "'..' member", entries: () => [{ name: '../../outside/escape' }], fails: true },
    { name: "'..' in the middle", entries: () => [{ name: 'a/../../outside/escape' }], fails: true },
    // GNU tar strips the leading '/': the file lands inside the target.
    { name: 'absolute member path', entries: (dir) => [{ name: `${dir}/escape` }], fails: false },
    {
      name: 'absolute symlink, then a member through it',
      entries: (dir) => [{ name: 'link', type: 'symlink', linkname: dir }, { name: 'link/escape' }],
      fails: true,
    },
    {
      name: "relative '..' symlink, then a member through it",
      entries: () => [{ name: 'd', type: 'directory' }, { name: 'd/link', type: 'symlink', linkname: '../../outside' }, { name: 'd/link/escape' }],
      fails: true,
    },
    {
      name: 'innocent symlink to a later escaping symlink',
      entries: (dir) => [{ name: 'x', type: 'symlink', linkname: 'y' }, { name: 'y', type: 'symlink', linkname: dir }, { name: 'x/escape' }],
      fails: true,
    },
    {
      name: 'directory replaced by an escaping symlink',
      entries: (dir) => [{ name: 'e', type: 'directory' }, { name: 'e', type: 'symlink', linkname: dir }, { name: 'e/escape' }],
      fails: true,
    },
    { name: 'hard link to an absolute outside file', entries: (dir) => [{ name: 'h', type: 'link', linkname: `${dir}/victim` }], fails: true },
    { name: "hard link with '..'", entries: () => [{ name: 'h', type: 'link', linkname: '../outside/victim' }], fails: true },
    {
      name: 'hard link through an escaping symlink',
      entries: (dir) => [
        { name: 'l', type: 'symlink', linkname: dir },
        { name: 'h', type: 'link', linkname: 'l/victim' },
      ],
      fails: true,
    },
    {
      name: 'overwrite through a hard link to an outside file',
      entries: (dir) => [
        { name: 'l', type: 'symlink', linkname: dir },
        { name: 'h', type: 'link', linkname: 'l/victim' },
        { name: 'h', body: 'pwned' },
      ],
      fails: true,
    },
  ];

  for (const testCase of cases) {
    for (const strategy of ['zlib', 'gzip-child'] as const) {
      it(`${strategy}: ${testCase.name}: nothing written outside${testCase.fails ? ', import fails' : ''}`, async () => {
        const slug = `${strategy}-${testCase.name.replace(/[^a-z]+/gi, '-')}`;
        const image = await buildRawImage(join(root, slug, 'image'), testCase.entries(outside));
        const target = join(root, slug, 'target');
        await mkdir(target);
        const outcome = await expandImage(image, target, { ...options, strategy }).then(
          () => undefined,
          (error: unknown) => error,
        );
        if (testCase.fails) assert.ok(outcome instanceof ImageUnpackError, `expected a failure, got ${String(outcome)}`);
        else assert.equal(outcome, undefined);
        assert.deepEqual((await readdir(outside)).sort(), ['victim']);
        assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'original');
        assert.equal((await stat(join(outside, 'victim'))).nlink, 1);
        if (!testCase.fails) assert.equal(await readFile(join(target, outside, 'escape'), 'utf8'), 'x');
      });
    }
  }
});

describe('unpacking errors name the path and the cause', () => {
  let root: string;
  let good: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'unpacker-errors-spec-'));
    good = await buildRootfsImage(join(root, 'good'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function failure(run: (target: string) => Promise<unknown>, mode: 'dir' | 'file'): Promise<Error> {
    const target = join(root, `target-${Math.random().toString(16).slice(2)}`);
    if (mode === 'dir') await mkdir(target);
    const error = await run(target).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof Error, 'expected a failure');
    return error;
  }

  for (const mode of ['expand-zlib', 'expand-gzip-child', 'gunzip-gzip-child', 'gunzip-zlib'] as const) {
    const strategy = mode.endsWith('zlib') ? 'zlib' : 'gzip-child';
    const run = (image: string) => (target: string) =>
      mode.startsWith('expand') ? expandImage(image, target, { ...options, strategy }) : gunzipImage(image, target, { ...options, strategy });
    const targetMode = mode.startsWith('expand') ? 'dir' : 'file';

    it(`${mode}: missing image`, async () => {
      const missing = join(root, 'missing', 'image');
      const error = await failure(run(missing), targetMode);
      assert.equal(error.message, `image '${missing}' does not exist`);
    });

    it(`${mode}: not gzip`, async () => {
      const image = join(root, `plain-${mode}`);
      await writeFile(image, 'this is not gzip at all');
      const error = await failure(run(image), targetMode);
      assert.match(error.message, new RegExp(`^image '${image}' is not a gzip file`));
    });

    it(`${mode}: truncated gzip`, async () => {
      const image = join(root, `truncated-${mode}`);
      execFileSync('cp', [good, image]);
      await truncate(image, Math.floor((await stat(good)).size / 2));
      const error = await failure(run(image), targetMode);
      assert.match(error.message, new RegExp(`^image '${image}' is truncated`));
    });

    it(`${mode}: gzip of something that is not a tar`, async () => {
      const image = join(root, `not-tar-${mode}`);
      await writeFile(join(root, 'text'), 'hello, '.repeat(2000));
      execFileSync('sh', ['-c', `gzip -c '${join(root, 'text')}' > '${image}'`]);
      const error = await failure(run(image), targetMode);
      assert.match(error.message, new RegExp(`^image '${image}' does not contain a (valid )?tar archive`));
    });
  }

  it('gunzip strategies produce the same tar file and sha1', async () => {
    const child = join(root, 'child.tar');
    const zlib = join(root, 'zlib.tar');
    const first = await gunzipImage(good, child, { ...options, strategy: 'gzip-child' });
    const second = await gunzipImage(good, zlib, { ...options, strategy: 'zlib' });
    assert.deepEqual(first, second);
    assert.equal(sha1File(child), sha1File(zlib));
    assert.equal(sha1File(child), execFileSync('sh', ['-c', `gzip -dc '${good}' | sha1sum`], { encoding: 'utf8' }).split(' ')[0]);
  });

  it('no space left on device (a 2 MiB tmpfs), in every mode', async () => {
    const small = join(root, 'small');
    await mkdir(small);
    const image = await buildRandomImage(join(root, 'big'), 4);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]);
    try {
      for (const [index, run] of [
        (target: string) => expandImage(image, target, { ...options, strategy: 'zlib' }),
        (target: string) => expandImage(image, target, { ...options, strategy: 'gzip-child' }),
        (target: string) => gunzipImage(image, target, { ...options, strategy: 'gzip-child' }),
        (target: string) => gunzipImage(image, target, { ...options, strategy: 'zlib' }),
      ].entries()) {
        const target = join(small, `t${index}`);
        if (index < 2) await mkdir(target);
        const error = await run(target).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        assert.ok(error instanceof ImageUnpackError, `mode ${index}: ${String(error)}`);
        assert.match(error.message, new RegExp(`^no space left on device while writing '${target}'`));
        await rm(target, { recursive: true, force: true });
      }
    } finally {
      execFileSync('umount', [small]);
    }
  });
});
