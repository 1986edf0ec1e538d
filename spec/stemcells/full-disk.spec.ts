import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, runCpi, tempConfig } from '../../testkit/cpi-process';

// A full stemcells_dir is named as such in both modes, with the same wording.

describe('create_stemcell into a full stemcells_dir (a 4 MiB tmpfs)', () => {
  let dir: string;
  let config: Record<string, unknown>;
  let configPath: string;
  let stemcellsDir: string;
  let image: string;
  before(async () => {
    ({ dir, configPath, config } = await tempConfig());
    stemcellsDir = join(dir, 'stemcells');
    await mkdir(stemcellsDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', stemcellsDir]);
    // One random file 5000 bytes larger than the tmpfs: GNU tar's last write of it comes up short, and tar
    // then says only "Wrote only 7168 of 10240 bytes", never "No space left on device".
    const source = join(dir, 'image-src');
    await mkdir(source);
    await writeFile(join(source, 'big'), randomBytes(4 * 1024 * 1024 + 5000));
    image = join(dir, 'image.tgz');
    execFileSync('tar', ['-czf', image, '-C', source, '.']);
  });
  after(async () => {
    execFileSync('umount', ['-l', stemcellsDir]);
    await rm(dir, { recursive: true, force: true });
  });

  for (const expand of [true, false]) {
    it(`${expand ? 'expand' : 'gunzip'} mode answers "no space left on device while writing …" and leaves nothing`, async () => {
      await writeFile(configPath, JSON.stringify({ ...config, actions: { ...(config.actions as object), expand_stemcell_tarball: expand } }));
      const run = await runCpi(configPath, request('create_stemcell', [image, null]));
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', JSON.stringify(run.response));
      assert.match(run.response.error?.message ?? '', new RegExp(`no space left on device while writing '${stemcellsDir}/\\.stemcell\\.import-`));
      assert.deepEqual(await readdir(stemcellsDir), []);
    });
  }
});
