import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, runCpi, tempConfig } from '../../testkit/cpi-process';
import { buildRootfsImage, sha1File, writeManifest } from './stemcell-fixture';

/**
 * Field fault: with expand_stemcell_tarball false (gunzip mode, BOSH Lite's), an image whose gzip was intact
 * but whose tar was cut short was imported, and only a warning said its sha1 differed from stemcell.MF's.
 * An imported stemcell is whole and is what stemcell.MF says it is, or it is refused, storing nothing.
 */
describe('create_stemcell refuses broken and mislabelled images (through the bundle)', () => {
  let dir: string;
  const configs: Record<'expand' | 'gunzip', string> = { expand: '', gunzip: '' };
  let stemcellsDirs: Record<'expand' | 'gunzip', string>;
  let stateDirs: Record<'expand' | 'gunzip', string>;
  let good: string;

  before(async () => {
    const gunzip = await tempConfig();
    dir = gunzip.dir;
    const actions = gunzip.config.actions as Record<string, unknown>;
    configs.expand = gunzip.configPath;
    configs.gunzip = join(dir, 'cpi-gunzip.json');
    await writeFile(
      configs.gunzip,
      JSON.stringify({
        ...gunzip.config,
        actions: { ...actions, stemcells_dir: join(dir, 'stemcells-gz'), state_dir: join(dir, 'state-gz'), expand_stemcell_tarball: false },
      }),
    );
    stemcellsDirs = { expand: actions.stemcells_dir as string, gunzip: join(dir, 'stemcells-gz') };
    stateDirs = { expand: actions.state_dir as string, gunzip: join(dir, 'state-gz') };
    good = await buildRootfsImage(join(dir, 'good'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A gzip that is whole, of a tar that is not: the tar stream cut at `keep` bytes, then gzipped again. */
  async function cutTarImage(name: string, keep: (tarBytes: number) => number): Promise<string> {
    const target = join(dir, name);
    await mkdir(target, { recursive: true });
    const tar = execFileSync('gzip', ['-dc', good]);
    const image = join(target, 'image');
    execFileSync('sh', ['-c', 'gzip -c > "$1"', 'sh', image], { input: tar.subarray(0, keep(tar.length)) });
    return image;
  }

  async function nothingStored(mode: 'expand' | 'gunzip'): Promise<void> {
    assert.deepEqual(await readdir(stemcellsDirs[mode]).catch(() => []), [], 'no cid, data or temp file');
    assert.deepEqual(await readdir(join(stateDirs[mode], 'stemcells')).catch(() => []), [], 'no record');
  }

  const cuts: [string, (length: number) => number][] = [
    ['in the middle of a file', (length) => Math.floor(length / 2) + 100],
    ['at an entry boundary, without the end-of-archive blocks', () => 512],
    ['in a header', () => 512 + 100],
  ];
  for (const [where, keep] of cuts) {
    it(`gunzip mode: a whole gzip of a tar cut ${where} is refused, storing nothing`, async () => {
      const image = await cutTarImage(`cut-${where.replace(/\W+/g, '-')}`, keep);
      // Its own sha1 in stemcell.MF, so only the tar's structure can give it away.
      await writeManifest(image, { sha1: true });
      const run = await runCpi(configs.gunzip, request('create_stemcell', [image, {}]));
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', run.stdout);
      assert.match(
        run.response.error?.message ?? '',
        new RegExp(`Unpacking: image '${image}' does not contain a valid tar archive: (cut short|no end-of-archive blocks)`),
      );
      await nothingStored('gunzip');
    });
  }

  it('expand mode: the same cut tar is refused by GNU tar, storing nothing', async () => {
    const image = await cutTarImage('cut-expand', (length) => Math.floor(length / 2) + 100);
    await writeManifest(image, { sha1: true });
    const run = await runCpi(configs.expand, request('create_stemcell', [image, {}]));
    assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', run.stdout);
    await nothingStored('expand');
  });

  for (const mode of ['expand', 'gunzip'] as const) {
    it(`${mode} mode: an image whose sha1 is not stemcell.MF's is refused naming both values, storing nothing`, async () => {
      // The field report's image: the cut tar, with the manifest of the whole stemcell.
      const image = await cutTarImage(`mislabelled-${mode}`, (length) => length - 512 * 30);
      const declared = sha1File(good);
      await writeManifest(image, { sha1: declared });
      const run = await runCpi(configs[mode], request('create_stemcell', [image, {}]));
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', run.stdout);
      // Whichever check fires first (the tar's structure or the sha1), the import is refused.
      assert.match(
        run.response.error?.message ?? '',
        new RegExp(`has sha1 ${sha1File(image)}, but stemcell.MF says sha1 ${declared}|does not contain a valid tar archive`),
      );
      await nothingStored(mode);

      // A whole image whose manifest names another sha1: refused on the sha1 alone.
      const other = join(dir, `other-${mode}`);
      await mkdir(other, { recursive: true });
      execFileSync('cp', [good, join(other, 'image')]);
      await writeManifest(join(other, 'image'), { sha1: 'f'.repeat(40) });
      const mislabelled = await runCpi(configs[mode], request('create_stemcell', [join(other, 'image'), {}]));
      assert.equal(mislabelled.response.error?.type, 'Bosh::Clouds::CloudError', mislabelled.stdout);
      assert.match(mislabelled.response.error?.message ?? '', new RegExp(`has sha1 ${sha1File(good)}, but stemcell.MF says sha1 ${'f'.repeat(40)}`));
      await nothingStored(mode);
    });
  }

  it('a whole image with its own sha1 still imports in both modes', async () => {
    await writeManifest(good, { sha1: true });
    for (const mode of ['expand', 'gunzip'] as const) {
      const run = await runCpi(configs[mode], request('create_stemcell', [good, {}]));
      assert.equal(run.response.error, null, run.stdout);
      const deleted = await runCpi(configs[mode], request('delete_stemcell', [run.response.result]));
      assert.equal(deleted.response.error, null);
      await nothingStored(mode);
    }
  });
});
