import { chmod, mkdir, stat } from 'node:fs/promises';
import { CloudError } from '../errors/cpi-errors';

/**
 * Makes one of the CPI's store dirs (stemcells_dir, disks_dir, state_dir, the host bind-mount roots) exist
 * as root's alone, 0700, and tightens one found more open (made 0755 by an earlier release or by hand).
 * What lies below is the CPI's and the VMs': stemcell trees with setuid-root binaries, disk images, a VM's
 * root and /var/vcap/data, where a VM's root writes whatever it likes. Host users must not reach any of
 * it; Garden and the CPI run as root and do not need the bits.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  if (!info.isDirectory()) throw new CloudError(`'${dir}' is not a directory`);
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
}
