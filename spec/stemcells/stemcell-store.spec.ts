import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudError } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { createStemcellImporter } from '../../src/stemcells/stemcell-importer';
import { createStemcellStore, type StemcellStore } from '../../src/stemcells/stemcell-store';
import { buildRootfsImage, makeStemcellFixture, recordingLogger, sha1File, writeManifest, type StemcellFixture } from './stemcell-fixture';

describe('StemcellStore', () => {
  let fixture: StemcellFixture;
  let store: StemcellStore;
  let image: string;
  const importStemcell = () =>
    createStemcellImporter({
      stemcellsDir: fixture.stemcellsDir,
      stateDir: fixture.stateDir,
      newId: randomUUID,
      locks: fixture.locks,
      expand: true,
    }).importStemcell(image, null, silentLogger);
  const entries = async () => (await readdir(fixture.stemcellsDir)).sort();

  beforeEach(async () => {
    fixture = await makeStemcellFixture();
    store = createStemcellStore({ stemcellsDir: fixture.stemcellsDir, stateDir: fixture.stateDir, newId: randomUUID, locks: fixture.locks });
    image = await buildRootfsImage(join(fixture.root, 'sc'), { init: 'runit' });
    await writeManifest(image, { sha1: true });
  });
  afterEach(() => fixture.cleanup());

  describe('find', () => {
    it('unknown, non-plain and hidden cids are not found', async () => {
      await importStemcell();
      for (const cid of ['nope', '../stemcells', 'a/b', `.data-${sha1File(image)}-dir`, '.', '']) {
        assert.equal(await store.find(cid), undefined, cid);
      }
    });

    it('reads the init system off the rootfs when the OS is unknown', async () => {
      const cid = await importStemcell();
      const found = await store.find(cid);
      assert.equal(found?.kind, 'path');
      assert.equal(found?.init, 'runit');
      assert.equal(found?.os, undefined);
    });

    it('finds stemcells the upstream CPI imported (a plain directory or tar file, no records)', async () => {
      const dir = join(fixture.stemcellsDir, 'upstream-dir');
      await mkdir(join(dir, 'sbin'), { recursive: true });
      await symlink('/lib/systemd/systemd', join(dir, 'sbin/init'));
      await writeFile(join(fixture.stemcellsDir, 'upstream-tar'), 'tar bytes');
      assert.deepEqual(await store.find('upstream-dir'), {
        kind: 'path',
        path: dir,
        format: 'dir',
        os: undefined,
        init: 'systemd',
        manifest: undefined,
      });
      assert.deepEqual(await store.find('upstream-tar'), {
        kind: 'path',
        path: join(fixture.stemcellsDir, 'upstream-tar'),
        format: 'tar',
        os: undefined,
        init: undefined,
        manifest: undefined,
      });
    });

    it("resolves the upstream CPI's light:// cids to docker://", async () => {
      assert.deepEqual(await store.find('light://cloudfoundry/noble:1.0'), { kind: 'docker', uri: 'docker://cloudfoundry/noble:1.0' });
    });

    it('a cid whose data vanished is not found', async () => {
      const cid = await importStemcell();
      await rm(join(fixture.stemcellsDir, `.data-${sha1File(image)}-dir`), { recursive: true });
      assert.equal(await store.find(cid), undefined);
    });
  });

  describe('delete', () => {
    it('keeps shared data until the last cid using it is deleted', async () => {
      const first = await importStemcell();
      const second = await importStemcell();
      const data = `.data-${sha1File(image)}-dir`;
      await store.delete(first, silentLogger);
      assert.deepEqual(await entries(), [data, second].sort());
      assert.equal(await readFile(join(fixture.stemcellsDir, second, 'etc/hostname'), 'utf8'), 'stemcell\n');
      await store.delete(second, silentLogger);
      assert.deepEqual(await entries(), []);
      assert.deepEqual(await readdir(join(fixture.stateDir, 'stemcells')), []);
    });

    it('is idempotent: an unknown cid succeeds and is logged', async () => {
      const cid = await importStemcell();
      await store.delete(cid, silentLogger);
      const logger = recordingLogger();
      await store.delete(cid, logger);
      await store.delete('never-existed', logger);
      assert.equal(logger.lines.filter((line) => line.message === 'Stemcell not found; nothing to delete').length, 2);
    });

    it('refuses cids that are not plain ids, touching nothing', async () => {
      const cid = await importStemcell();
      for (const bad of ['../stemcells', 'a/b', `.data-${sha1File(image)}-dir`, '..', 'x\0y']) {
        await assert.rejects(store.delete(bad, silentLogger), (error: unknown) => {
          assert.ok(error instanceof CloudError);
          assert.match(error.message, /^Deleting stemcell '.*': not a stemcell cid/s);
          return true;
        });
      }
      assert.equal(await readFile(join(fixture.stemcellsDir, cid, 'etc/hostname'), 'utf8'), 'stemcell\n');
    });

    it('upstream light:// cids delete as a no-op', async () => {
      await store.delete('light://cloudfoundry/noble:1.0', silentLogger);
    });

    it('deletes light stemcell records', async () => {
      const dir = join(fixture.root, 'light');
      await mkdir(dir);
      await writeFile(join(dir, 'image'), '');
      await writeManifest(join(dir, 'image'), { formats: ['warden-light'] });
      const cid = await createStemcellImporter({
        stemcellsDir: fixture.stemcellsDir,
        stateDir: fixture.stateDir,
        newId: randomUUID,
        locks: fixture.locks,
        expand: true,
      }).importStemcell(join(dir, 'image'), { image_reference: 'library/ubuntu' }, silentLogger);
      assert.equal((await store.find(cid))?.kind, 'docker');
      await store.delete(cid, silentLogger);
      assert.equal(await store.find(cid), undefined);
    });

    it('deletes stemcells the upstream CPI imported', async () => {
      await mkdir(join(fixture.stemcellsDir, 'upstream-dir', 'etc'), { recursive: true });
      execFileSync('mknod', [join(fixture.stemcellsDir, 'upstream-dir', 'etc', 'null'), 'c', '1', '3']);
      await writeFile(join(fixture.stemcellsDir, 'upstream-tar'), 'tar bytes');
      await store.delete('upstream-dir', silentLogger);
      await store.delete('upstream-tar', silentLogger);
      assert.deepEqual(await entries(), []);
    });

    it('racing an import of the same stemcell never leaves a cid without data', async () => {
      for (let round = 0; round < 5; round += 1) {
        const old = await importStemcell();
        const [, fresh] = await Promise.all([store.delete(old, silentLogger), importStemcell()]);
        const found = await store.find(fresh);
        assert.equal(found?.kind, 'path');
        assert.equal(await readFile(join(fixture.stemcellsDir, fresh, 'etc/hostname'), 'utf8'), 'stemcell\n');
        await store.delete(fresh, silentLogger);
        assert.deepEqual(await entries(), []);
      }
    });
  });
});
