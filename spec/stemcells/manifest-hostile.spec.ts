import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_MANIFEST_BYTES, readStemcellManifest } from '../../src/stemcells/stemcell-manifest';
import { request, runCpi, tempConfig } from '../../testkit/cpi-process';
import { buildRootfsImage } from './stemcell-fixture';

// stemcell.MF is read only as a small regular file: never a FIFO, a link, a device or a huge file.

describe('a hostile stemcell.MF beside the image', () => {
  let dir: string;
  let configPath: string;
  let image: string;
  const manifest = () => join(dirname(image), 'stemcell.MF');
  before(async () => {
    ({ dir, configPath } = await tempConfig());
    image = await buildRootfsImage(join(dir, 'image'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cases: [string, () => Promise<void>][] = [
    ['a FIFO (no writer ever comes)', async () => void execFileSync('mkfifo', [manifest()])],
    ['a symlink to /dev/zero', () => symlink('/dev/zero', manifest())],
    [
      'a symlink to a real manifest',
      async () => {
        await writeFile(join(dir, 'real.MF'), 'name: linked\nsha1: 0000000000000000000000000000000000000000\n');
        await symlink(join(dir, 'real.MF'), manifest());
      },
    ],
    ['a regular file over 1 MiB', () => writeFile(manifest(), `name: big\n${'#'.repeat(MAX_MANIFEST_BYTES)}\n`)],
  ];

  for (const [what, make] of cases) {
    // A FIFO that is opened blocks forever and /dev/zero never ends: either fails by the test's timeout, not by a
    // wall-clock bound that a loaded machine can miss.
    it(`create_stemcell ignores ${what} and imports`, { timeout: 120_000 }, async () => {
      await rm(manifest(), { force: true });
      await make();
      assert.equal(await readStemcellManifest(image), undefined);
      const run = await runCpi(configPath, request('create_stemcell', [image, null]), { env: { BOSH_LOG_LEVEL: 'debug' } });
      assert.equal(run.response.error, null, JSON.stringify(run.response));
      const deleted = await runCpi(configPath, request('delete_stemcell', [run.response.result]));
      assert.equal(deleted.response.error, null);
    });
  }

  it('still reads a small regular stemcell.MF', async () => {
    await rm(manifest(), { force: true });
    await writeFile(manifest(), 'name: bosh-warden-boshlite-ubuntu-noble\noperating_system: ubuntu-noble\n');
    assert.deepEqual(await readStemcellManifest(image), { name: 'bosh-warden-boshlite-ubuntu-noble', operating_system: 'ubuntu-noble' });
  });
});
