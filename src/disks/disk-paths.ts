import { join } from 'node:path';
import type { CpiConfig } from '../config/cpi-config';
import { cidProblem } from '../ids/cid';
import { InvalidRequest } from '../errors/cpi-errors';

/** The config a disk needs: where images, host mounts and the CPI's own records live, and the guest path. */
export type DisksConfig = Pick<
  CpiConfig['actions'],
  'disks_dir' | 'host_persistent_bind_mounts_dir' | 'guest_persistent_bind_mounts_dir' | 'state_dir'
>;

/** Throws unless `cid` is safe as one path component (callers validate too; this is the last guard). */
export function assertPlainId(kind: string, cid: string): string {
  const problem = cidProblem(cid);
  if (problem !== undefined) throw new InvalidRequest(`Invalid ${kind} cid ${JSON.stringify(cid.slice(0, 100))}: ${problem}`);
  return cid;
}

export interface DiskPaths {
  /** `<disks_dir>/<cid>`: the ext4 image, the same layout as the upstream CPI. */
  image: string;
  /** `<state_dir>/disks/<cid>`: our records (metadata, freeze marker), kept out of disks_dir. */
  stateDir: string;
  metadataFile: string;
  /** Present while the disk's filesystem is frozen for a snapshot; a leftover means "thaw me". */
  frozenMarker: string;
}

export function diskPaths(config: DisksConfig, diskCid: string): DiskPaths {
  assertPlainId('disk', diskCid);
  const stateDir = join(config.state_dir, 'disks', diskCid);
  return {
    image: join(config.disks_dir, diskCid),
    stateDir,
    metadataFile: join(stateDir, 'metadata.json'),
    frozenMarker: join(stateDir, 'frozen'),
  };
}

/** `<host_persistent_bind_mounts_dir>/<vm>`: bind-mounted shared into the container at the guest dir. */
export function vmPersistentDir(config: DisksConfig, vmCid: string): string {
  return join(config.host_persistent_bind_mounts_dir, assertPlainId('VM', vmCid));
}

/** `<host_persistent_bind_mounts_dir>/<vm>/<disk>`: where an attached disk's image is loop-mounted. */
export function diskHostMountPath(config: DisksConfig, vmCid: string, diskCid: string): string {
  return join(vmPersistentDir(config, vmCid), assertPlainId('disk', diskCid));
}

/** `/warden-cpi-dev/<disk>`: the same mount seen from inside the container; the v2 disk hint. */
export function diskGuestPath(config: DisksConfig, diskCid: string): string {
  return join(config.guest_persistent_bind_mounts_dir, assertPlainId('disk', diskCid));
}

export interface SnapshotPaths {
  /** `<disks_dir>/snapshots/<snapshot>`: a copy of the image. */
  image: string;
  /** `<state_dir>/snapshots/<snapshot>/metadata.json`: source disk and the Director's metadata. */
  stateDir: string;
  metadataFile: string;
}

export function snapshotPaths(config: DisksConfig, snapshotCid: string): SnapshotPaths {
  assertPlainId('snapshot', snapshotCid);
  const stateDir = join(config.state_dir, 'snapshots', snapshotCid);
  return {
    image: join(config.disks_dir, 'snapshots', snapshotCid),
    stateDir,
    metadataFile: join(stateDir, 'metadata.json'),
  };
}

/** Cross-process lock name for one disk (attach, detach, delete, resize, snapshot). */
export function diskLockName(diskCid: string): string {
  return `disk-${assertPlainId('disk', diskCid).replace(/[^A-Za-z0-9._-]/g, '_')}`;
}
