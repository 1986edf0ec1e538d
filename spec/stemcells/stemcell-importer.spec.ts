import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, realpath, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudError } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { currentProcess } from '../../src/host/process-identity';
import { createStemcellImporter, type StemcellImporter } from '../../src/stemcells/stemcell-importer';
import { createStemcellStore } from '../../src/stemcells/stemcell-store';
import {
  buildRandomImage,
  buildRootfsImage,
  makeStemcellFixture,
  readJson,
  recordingLogger,
  sha1File,
  writeManifest,
  type StemcellFixture,
} from './stemcell-fixture';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('StemcellImporter', () => {
  let fixture: StemcellFixture;
  let importer: (expand: boolean) => StemcellImporter;
  beforeEach(async () => {
    fixture = await makeStemcellFixture();
    importer = (expand) =>
      createStemcellImporter({ stemcellsDir: fixture.stemcellsDir, stateDir: fixture.stateDir, newId: randomUUID, locks: fixture.locks, expand });
  });
  afterEach(() => fixture.cleanup());

  const store = () =>
    createStemcellStore({ stemcellsDir: fixture.stemcellsDir, stateDir: fixture.stateDir, newId: randomUUID, locks: fixture.locks });
  const entries = async () => (await readdir(fixture.stemcellsDir)).sort();

  it('expand mode: <stemcells_dir>/<cid> is the rootfs, with the manifest recorded for create_vm', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'), { init: 'systemd' });
    await writeManifest(image, { sha1: true, os: 'ubuntu-noble' });
    const cid = await importer(true).importStemcell(image, null, silentLogger);
    assert.match(cid, UUID);
    const path = join(fixture.stemcellsDir, cid);
    assert.equal(await readFile(join(path, 'etc/hostname'), 'utf8'), 'stemcell\n');
    assert.equal(await readlink(join(path, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
    assert.deepEqual(await entries(), [`.data-${sha1File(image)}-dir`, cid].sort());
    const found = await store().find(cid);
    assert.deepEqual(found && { ...found, manifest: undefined }, {
      kind: 'path',
      path,
      format: 'dir',
      os: 'ubuntu-noble',
      init: 'systemd',
      manifest: undefined,
    });
    assert.equal(found?.manifest?.api_version, 3);
  });

  it('gunzip mode: <stemcells_dir>/<cid> is the uncompressed tar', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await writeManifest(image, { sha1: true, os: 'ubuntu-jammy' });
    const cid = await importer(false).importStemcell(image, {}, silentLogger);
    const path = join(fixture.stemcellsDir, cid);
    assert.ok((await stat(path)).isFile());
    assert.equal(sha1File(path), execFileSync('sh', ['-c', `gzip -dc '${image}' | sha1sum`], { encoding: 'utf8' }).split(' ')[0]);
    assert.deepEqual(await store().find(cid), {
      kind: 'path',
      path,
      format: 'tar',
      os: 'ubuntu-jammy',
      init: 'runit',
      manifest: {
        name: 'bosh-warden-boshlite-ubuntu-noble-go_agent',
        version: '1.108',
        api_version: 3,
        sha1: sha1File(image),
        operating_system: 'ubuntu-jammy',
        stemcell_formats: ['warden-tar', 'general-tar'],
      },
    });
  });

  it('a missing stemcell.MF is not an error', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    const cid = await importer(true).importStemcell(image, null, silentLogger);
    assert.equal(await readFile(join(fixture.stemcellsDir, cid, 'etc/hostname'), 'utf8'), 'stemcell\n');
  });

  for (const expand of [true, false]) {
    it(`${expand ? 'expand' : 'gunzip'} mode: the same sha1 in stemcell.MF imports once, without reading the image again`, async () => {
      const image = await buildRootfsImage(join(fixture.root, 'sc'));
      await writeManifest(image, { sha1: true });
      const first = await importer(expand).importStemcell(image, null, silentLogger);
      // The second import must not even open the image: break it and it still succeeds.
      await writeFile(image, 'not gzip any more');
      const logger = recordingLogger();
      const second = await importer(expand).importStemcell(image, null, logger);
      assert.notEqual(second, first);
      assert.equal(await realpath(join(fixture.stemcellsDir, second)), await realpath(join(fixture.stemcellsDir, first)));
      assert.equal((await entries()).filter((name) => name.startsWith('.')).length, 1);
      assert.ok(logger.lines.some((line) => line.message === 'Stemcell already imported; sharing its data'));
      assert.ok((await lstat(join(fixture.stemcellsDir, second))).isSymbolicLink());
    });
  }

  it('without a sha1 in stemcell.MF, dedupes on the sha1 computed while streaming', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    const first = await importer(true).importStemcell(image, null, silentLogger);
    const second = await importer(true).importStemcell(image, null, silentLogger);
    assert.notEqual(first, second);
    assert.deepEqual(await entries(), [`.data-${sha1File(image)}-dir`, first, second].sort());
  });

  it('expand and gunzip data of one stemcell are kept apart', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await writeManifest(image, { sha1: true });
    const dir = await importer(true).importStemcell(image, null, silentLogger);
    const tar = await importer(false).importStemcell(image, null, silentLogger);
    assert.ok((await stat(join(fixture.stemcellsDir, dir))).isDirectory());
    assert.ok((await stat(join(fixture.stemcellsDir, tar))).isFile());
  });

  it('a sha1 in stemcell.MF that does not match the image is refused in both modes, naming both, storing nothing', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await writeManifest(image, { sha1: 'a'.repeat(40) });
    for (const expand of [true, false]) {
      await assert.rejects(importer(expand).importStemcell(image, null, silentLogger), (error: Error) => {
        assert.ok(error instanceof CloudError);
        assert.match(error.message, new RegExp(`image '${image}' has sha1 ${sha1File(image)}, but stemcell.MF says sha1 ${'a'.repeat(40)}`));
        return true;
      });
      assert.deepEqual(await entries(), []);
      assert.deepEqual(await readdir(join(fixture.stateDir, 'stemcells')).catch(() => []), []);
    }
  });

  it("accepts stemcell.MF's multi-digest form and refuses a digest it cannot check", async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await writeFile(join(fixture.root, 'sc', 'stemcell.MF'), `name: x\nversion: '1'\nsha1: sha1:${sha1File(image)};sha256:${'b'.repeat(64)}\n`);
    const cid = await importer(false).importStemcell(image, null, silentLogger);
    assert.equal(await readlink(join(fixture.stemcellsDir, cid)), `.data-${sha1File(image)}-tar`);
    await writeFile(join(fixture.root, 'sc', 'stemcell.MF'), `name: x\nversion: '1'\nsha1: sha256:${'b'.repeat(64)}\n`);
    await assert.rejects(importer(false).importStemcell(image, null, silentLogger), /stemcell\.MF's sha1 'sha256:b+' is not a sha1/);
  });

  it('concurrent imports of one stemcell unpack it once', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await writeManifest(image, { sha1: true });
    const logger = recordingLogger();
    const cids = await Promise.all([1, 2, 3, 4].map(() => importer(true).importStemcell(image, null, logger)));
    assert.equal(new Set(cids).size, 4);
    assert.equal(logger.lines.filter((line) => line.message === 'Unpacked stemcell image').length, 1);
    assert.deepEqual(await entries(), [`.data-${sha1File(image)}-dir`, ...cids].sort());
  });

  it('a failed import leaves nothing behind and names the image and the cause', async () => {
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    await truncate(image, Math.floor((await stat(image)).size / 2));
    for (const expand of [true, false]) {
      const error = await importer(expand)
        .importStemcell(image, null, silentLogger)
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      assert.ok(error instanceof CloudError);
      assert.equal(error.boshType, 'Bosh::Clouds::CloudError');
      assert.match(error.message, new RegExp(`^Importing stemcell '${image}': Unpacking: image '${image}' is truncated`));
      assert.deepEqual(await entries(), []);
    }
  });

  it('a missing image fails with the path', async () => {
    const image = join(fixture.root, 'nowhere', 'image');
    await assert.rejects(importer(true).importStemcell(image, null, silentLogger), {
      message: `Importing stemcell '${image}': image '${image}' does not exist`,
    });
  });

  it('cleans leftovers of dead importers (pid gone, or reused by another process), keeps those of live ones', async () => {
    await mkdir(fixture.stemcellsDir, { recursive: true });
    const dead = execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim(); // a pid that just exited
    const self = currentProcess();
    const deadImport = `.stemcell.import-${dead}-1-0a1b2c`;
    const deadLink = `.some-cid.link-${dead}-1-0a1b2c`;
    const reusedPid = `.stemcell.import-${self.pid}-${Number(self.started) + 1}-0a1b2c`;
    const liveImport = `.stemcell.import-${self.pid}-${self.started}-0a1b2c`;
    const orphanData = `.data-${'b'.repeat(40)}-dir`;
    await mkdir(join(fixture.stemcellsDir, deadImport, 'etc'), { recursive: true });
    await writeFile(join(fixture.stemcellsDir, deadImport, 'etc', 'half'), 'x');
    await writeFile(join(fixture.stemcellsDir, deadLink), '');
    await mkdir(join(fixture.stemcellsDir, liveImport));
    await mkdir(join(fixture.stemcellsDir, reusedPid));
    await mkdir(join(fixture.stemcellsDir, orphanData));
    const image = await buildRootfsImage(join(fixture.root, 'sc'));
    const cid = await importer(true).importStemcell(image, null, silentLogger);
    assert.deepEqual(await entries(), [`.data-${sha1File(image)}-dir`, liveImport, cid].sort());
  });

  it('fails clearly when the stemcells dir is not writable (read-only mount)', async () => {
    await mkdir(fixture.stemcellsDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', fixture.stemcellsDir]);
    try {
      const image = await buildRootfsImage(join(fixture.root, 'sc'));
      await assert.rejects(importer(true).importStemcell(image, null, silentLogger), (error: unknown) => {
        assert.ok(error instanceof CloudError);
        assert.match(
          error.message,
          new RegExp(`^Importing stemcell '${image}': stemcells dir '${fixture.stemcellsDir}' is not writable: .*read-only file system`),
        );
        return true;
      });
    } finally {
      execFileSync('umount', [fixture.stemcellsDir]);
    }
  });

  it('no space left on device: a clear error and nothing under a cid', async () => {
    await mkdir(fixture.stemcellsDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', fixture.stemcellsDir]);
    try {
      const image = await buildRandomImage(join(fixture.root, 'big'), 4);
      for (const expand of [true, false]) {
        await assert.rejects(importer(expand).importStemcell(image, null, silentLogger), {
          message: new RegExp(
            `^Importing stemcell '${image}': Unpacking: no space left on device while writing '${fixture.stemcellsDir}/\\.stemcell\\.import-`,
          ),
        });
        assert.deepEqual(await entries(), []);
      }
    } finally {
      execFileSync('umount', [fixture.stemcellsDir]);
    }
  });

  describe('light stemcells', () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;

    for (const format of ['warden-light', 'docker-light']) {
      it(`${format}: no import; a plain cid that create_vm resolves to docker://<image_reference>`, async () => {
        const dir = join(fixture.root, format);
        await mkdir(dir);
        const image = join(dir, 'image');
        await writeFile(image, ''); // light stemcells ship an empty image
        await writeManifest(image, { formats: [format], os: 'ubuntu-noble' });
        const cid = await importer(true).importStemcell(image, { image_reference: 'cloudfoundry/noble-stemcell:1.108', digest }, silentLogger);
        assert.match(cid, UUID);
        assert.deepEqual(await readdir(fixture.stemcellsDir).catch(() => []), []);
        const found = await store().find(cid);
        assert.deepEqual(found && { ...found, manifest: undefined }, {
          kind: 'docker',
          uri: 'docker://cloudfoundry/noble-stemcell:1.108',
          os: 'ubuntu-noble',
          init: 'systemd',
          manifest: undefined,
        });
        const record = await readJson(join(fixture.stateDir, 'stemcells', `light-${cid}.json`));
        assert.equal((record as { digest?: string }).digest, digest);
      });
    }

    const invalid: [string, unknown, RegExp][] = [
      ['null cloud_properties', null, /image_reference: /],
      ["'..'", { image_reference: 'library/../etc' }, /must not contain '\.\.'/],
      ["leading '/'", { image_reference: '/etc/passwd' }, /start with/],
      ["leading ':'", { image_reference: ':tag' }, /start with/],
      ["leading '@'", { image_reference: '@sha256:abc' }, /start with/],
      [
        'a bad digest',
        { image_reference: 'library/ubuntu', digest: 'sha256:xyz' },
        /digest: expected sha256:<64 lowercase hex digits>, got "sha256:[a-z]+"$/,
      ],
      [
        'a short digest',
        { image_reference: 'library/ubuntu', digest: 'sha256:abcd' },
        /digest: expected sha256:<64 lowercase hex digits>, got "sha256:[a-z]+"$/,
      ],
    ];
    for (const [name, properties, message] of invalid) {
      it(`rejects ${name}`, async () => {
        const image = join(fixture.root, 'image');
        await writeFile(image, '');
        await writeManifest(image, { formats: ['warden-light'] });
        await assert.rejects(importer(true).importStemcell(image, properties, silentLogger), (error: unknown) => {
          assert.ok(error instanceof CloudError);
          assert.match(error.message, new RegExp(`^Importing stemcell '${image}': Invalid light stemcell cloud_properties\\.`));
          assert.match(error.message, message);
          return true;
        });
        assert.deepEqual(await readdir(join(fixture.stateDir, 'stemcells')).catch(() => []), []);
      });
    }
  });
});
