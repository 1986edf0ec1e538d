import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxRootfs, cachedFixture, rootfsKey } from './rootfs';

const run = promisify(execFile);

// A stand-in for the BOSH agent: runit stemcells start it through runsvdir-start. It records that it ran
// with its settings in place (in /var/vcap/data, the host's ephemeral dir), then stays up like an agent.
const FAKE_AGENT = `#!/bin/sh
mkdir -p /var/vcap/data
cp /var/vcap/bosh/warden-cpi-agent-env.json /var/vcap/data/agent-started.json
exec sleep 100000
`;

const MANIFEST = (sha1: string): string =>
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
  ].join('\n');

export interface BusyboxStemcell {
  /** The stemcell's `image` file (gzipped tar of the rootfs), with stemcell.MF beside it. */
  imagePath: string;
  dir: string;
  sha1: string;
}

/**
 * A small but real stemcell: the busybox rootfs (rootfs.ts) whose "agent" is a shell script, tarred and
 * gzipped as a stemcell's `image`, with a stemcell.MF beside it. Built once per content (rootfs key, agent,
 * manifest) and cached.
 */
export async function busyboxStemcell(onBuild?: () => void): Promise<BusyboxStemcell> {
  const key = createHash('sha256')
    .update(await rootfsKey())
    .update(FAKE_AGENT)
    .update(MANIFEST(''))
    .digest('hex')
    .slice(0, 16);
  const dir = await cachedFixture(`busybox-stemcell-${key}`, async (out) => {
    onBuild?.();
    const rootfs = await busyboxRootfs(`${out}-rootfs`);
    await writeFile(join(rootfs, 'usr/sbin/runsvdir-start'), FAKE_AGENT, { mode: 0o755 });
    await mkdir(out);
    await run('tar', ['--numeric-owner', '-czf', join(out, 'image'), '-C', rootfs, '.']);
    const sha1 = createHash('sha1')
      .update(await readFile(join(out, 'image')))
      .digest('hex');
    await writeFile(join(out, 'stemcell.MF'), MANIFEST(sha1));
  });
  const sha1 = /^sha1: (\w+)$/m.exec(await readFile(join(dir, 'stemcell.MF'), 'utf8'))?.[1] ?? '';
  return { imagePath: join(dir, 'image'), dir, sha1 };
}
