import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderTemplate, repoDir } from './release-fixtures';

export interface InstalledRelease {
  /** The rendered job's bin/cpi: run it with `env` and one request on stdin, as the Director does. */
  cpiPath: string;
  /** What bosh-cli's create-env gives the CPI: BOSH_PACKAGES_DIR, BOSH_JOBS_DIR and its minimal PATH. */
  env: Record<string, string>;
}

/**
 * Installs the release under `base` in the Director's layout (versioned dirs behind packages/<name> and
 * jobs/<name> symlinks): warden_cpi through its real packaging script from dist/cpi.js (so run
 * `npm run build` first), garden-cpi-node stood in for by this machine's node, and the warden_cpi job
 * rendered with `properties` (bin/cpi, config/cpi.json). Needs ruby.
 */
export async function installRelease(base: string, properties: object): Promise<InstalledRelease> {
  const bundle = join(repoDir, 'dist', 'cpi.js');
  const compileDir = join(base, 'data', 'compile', 'warden_cpi');
  const installTarget = join(base, 'data', 'packages', 'warden_cpi', 'fingerprint-1');
  await mkdir(join(compileDir, 'warden_cpi'), { recursive: true });
  await mkdir(installTarget, { recursive: true });
  await copyFile(bundle, join(compileDir, 'warden_cpi', 'cpi.js'));
  await copyFile(`${bundle}.map`, join(compileDir, 'warden_cpi', 'cpi.js.map'));
  for (const file of ['cpi-methods.js', 'cpi-methods.js.map', 'cpi-methods.cache']) {
    await copyFile(join(repoDir, 'dist', file), join(compileDir, 'warden_cpi', file));
  }
  await copyFile(join(repoDir, 'packages', 'warden_cpi', 'packaging'), join(compileDir, 'packaging'));
  const packaging = spawnSync('bash', ['-x', 'packaging'], {
    cwd: compileDir,
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', BOSH_INSTALL_TARGET: installTarget },
  });
  if (packaging.status !== 0) throw new Error(`warden_cpi packaging failed: ${packaging.stderr}`);
  await mkdir(join(base, 'packages'), { recursive: true });
  await symlink(installTarget, join(base, 'packages', 'warden_cpi'));

  await mkdir(join(base, 'packages', 'garden-cpi-node', 'bin'), { recursive: true });
  await symlink(process.execPath, join(base, 'packages', 'garden-cpi-node', 'bin', 'node'));

  const jobTarget = join(base, 'data', 'jobs', 'warden_cpi', 'hash-1');
  await mkdir(join(jobTarget, 'bin'), { recursive: true });
  await mkdir(join(jobTarget, 'config'), { recursive: true });
  await writeFile(join(jobTarget, 'bin', 'cpi'), renderTemplate('cpi.erb', properties), { mode: 0o755 });
  await writeFile(join(jobTarget, 'config', 'cpi.json'), renderTemplate('cpi.json.erb', properties));
  await mkdir(join(base, 'jobs'), { recursive: true });
  await symlink(jobTarget, join(base, 'jobs', 'warden_cpi'));

  return {
    cpiPath: join(base, 'jobs', 'warden_cpi', 'bin', 'cpi'),
    env: {
      BOSH_PACKAGES_DIR: join(base, 'packages'),
      BOSH_JOBS_DIR: join(base, 'jobs'),
      PATH: '/usr/local/bin:/usr/bin:/bin:/sbin',
    },
  };
}

/**
 * installRelease at the Director's default paths inside a chroot sandbox (`<sandbox>/var/vcap`), with the
 * packages/<name> and jobs/<name> symlinks relative to the sandbox's own root.
 */
export async function installReleaseInSandbox(sandbox: { path(path: string): string }, properties: object): Promise<void> {
  await installRelease(sandbox.path('var/vcap'), properties);
  for (const [link, target] of [
    ['var/vcap/packages/warden_cpi', '/var/vcap/data/packages/warden_cpi/fingerprint-1'],
    ['var/vcap/jobs/warden_cpi', '/var/vcap/data/jobs/warden_cpi/hash-1'],
  ] as const) {
    await rm(sandbox.path(link));
    await symlink(target, sandbox.path(link));
  }
}
