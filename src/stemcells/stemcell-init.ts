import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** How a VM's container must be started: systemd as PID 1 (Noble and later) or runit's runsvdir (Jammy and older). */
export type InitSystem = 'systemd' | 'runit';

// Stemcell lines that boot with runit; every later Ubuntu stemcell (noble, resolute, …) boots with systemd.
const RUNIT_OPERATING_SYSTEMS = new Set(['ubuntu-trusty', 'ubuntu-xenial', 'ubuntu-bionic', 'ubuntu-jammy']);
const SYSTEMD_OPERATING_SYSTEMS = new Set(['ubuntu-noble', 'ubuntu-resolute']);

/** The init system of a known stemcell operating system, or undefined when the name says nothing. */
export function initSystemForOs(operatingSystem: string | undefined): InitSystem | undefined {
  if (operatingSystem === undefined) return undefined;
  if (RUNIT_OPERATING_SYSTEMS.has(operatingSystem)) return 'runit';
  if (SYSTEMD_OPERATING_SYSTEMS.has(operatingSystem)) return 'systemd';
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Reads the init system off an unpacked rootfs when metadata is missing (stemcells imported by the
 * upstream CPI): runit stemcells ship /usr/sbin/runsvdir-start; systemd ones have /sbin/init -> …/systemd.
 */
export async function detectInitFromRootfs(rootfsDir: string): Promise<InitSystem | undefined> {
  if (await exists(join(rootfsDir, 'usr/sbin/runsvdir-start'))) return 'runit';
  for (const init of ['sbin/init', 'usr/sbin/init']) {
    const target = await readlink(join(rootfsDir, init)).catch(() => undefined);
    if (target !== undefined && /(^|\/)systemd$/.test(target)) return 'systemd';
  }
  return undefined;
}
