import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where built fixtures are kept between runs (gitignored). */
export const FIXTURE_CACHE = resolve(__dirname, '../../.cache/fixtures');

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

// A stand-in for the BOSH agent: runit stemcells start it through runsvdir-start. It records that it ran
// with its settings in place (in /var/vcap/data, the host's ephemeral dir), then stays up like an agent.
const FAKE_AGENT = `#!/bin/sh
mkdir -p /var/vcap/data
cp /var/vcap/bosh/warden-cpi-agent-env.json /var/vcap/data/agent-started.json
exec sleep 100000
`;

export interface BusyboxStemcell {
  /** The stemcell's `image` file (gzipped tar of the rootfs), with stemcell.MF beside it. */
  imagePath: string;
  dir: string;
  sha1: string;
}

async function busyboxPath(): Promise<string> {
  for (const candidate of BUSYBOX_CANDIDATES) {
    if (await stat(candidate).then(() => true, () => false)) return candidate;
  }
  throw new Error('busybox-static is not installed (apt-get install busybox-static; .ci/run does this)');
}

async function buildRootfs(rootfs: string): Promise<void> {
  const busybox = await busyboxPath();
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'var/vcap/bosh/bin', 'var/vcap/data', 'proc', 'dev', 'sys', 'root']) {
    await mkdir(join(rootfs, dir), { recursive: true });
  }
  await copyFile(busybox, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  const { stdout } = await run(busybox, ['--list-full']);
  for (const applet of stdout.split('\n').filter((line) => line.trim() !== '')) {
    if (applet === 'bin/busybox') continue;
    await symlink('/bin/busybox', join(rootfs, applet)).catch(() => undefined);
  }
  await writeFile(join(rootfs, 'usr/sbin/runsvdir-start'), FAKE_AGENT, { mode: 0o755 });
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nvcap:x:1000:1000::/home/vcap:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nvcap:x:1000:\n');
  await writeFile(join(rootfs, 'etc/hostname'), 'stemcell\n');
  await chmod(join(rootfs, 'tmp'), 0o1777);
}

/**
 * A small but real stemcell: a busybox rootfs whose "agent" is a shell script, tarred and gzipped as a
 * stemcell's `image`, with a stemcell.MF beside it. Built once and cached.
 */
export async function busyboxStemcell(): Promise<BusyboxStemcell> {
  const dir = join(FIXTURE_CACHE, 'busybox-stemcell');
  const imagePath = join(dir, 'image');
  const manifestPath = join(dir, 'stemcell.MF');
  if (await stat(manifestPath).then(() => true, () => false)) {
    const sha1 = /^sha1: (\w+)$/m.exec(await readFile(manifestPath, 'utf8'))?.[1];
    if (sha1 !== undefined) return { imagePath, dir, sha1 };
  }
  await mkdir(FIXTURE_CACHE, { recursive: true });
  const work = await mkdtemp(join(FIXTURE_CACHE, 'build-'));
  try {
    const rootfs = join(work, 'rootfs');
    await buildRootfs(rootfs);
    const out = join(work, 'out');
    await mkdir(out);
    await run('tar', ['--numeric-owner', '-czf', join(out, 'image'), '-C', rootfs, '.']);
    const sha1 = createHash('sha1').update(await readFile(join(out, 'image'))).digest('hex');
    await writeFile(
      join(out, 'stemcell.MF'),
      [
        'name: bosh-warden-boshlite-busybox-test',
        "version: '1.0'",
        `sha1: ${sha1}`,
        'operating_system: ubuntu-jammy',
        'api_version: 3',
        'stemcell_formats:',
        '- warden-tar',
        'cloud_properties: {}',
        '',
      ].join('\n'),
    );
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir).catch(async (error: unknown) => {
      // Another test file built it at the same time: use theirs.
      if (!(await stat(manifestPath).then(() => true, () => false))) throw error;
    });
    return { imagePath, dir, sha1 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
