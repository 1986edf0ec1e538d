import { mkdir, rename, rm } from 'node:fs/promises';
import { ensurePrivateDir } from '../host/private-dirs';
import { join } from 'node:path';
import type { CommandRunner } from '../host/command-runner';
import type { Logger } from '../log/logger';
import { withContext } from '../errors/cpi-errors';
import { diskPaths, snapshotPaths, type DisksConfig } from './disk-paths';
import { inDisksDir } from './disk-space';
import { readOwnFile, writeFileAtomic, writeRecord } from '../host/records';
import { sweepDeadWritersTempFiles, tempName } from '../host/temp-files';

/** Snapshots: copies of a disk image at `<disks_dir>/snapshots/<snapshot>`, metadata in the state dir. */
export interface DiskSnapshots {
  /**
   * Copies the image (reflink where the filesystem can, sparse otherwise). `mountedAt` is the host mount of
   * an attached disk: its filesystem is frozen for the copy, so the snapshot is clean, not crash-consistent.
   */
  take(diskCid: string, metadata: Record<string, unknown>, mountedAt: string | null): Promise<string>;
  /** Removes a snapshot; an unknown cid is a no-op. */
  remove(snapshotCid: string): Promise<void>;
  /** Thaws a filesystem left frozen by a CPI process that died mid-snapshot (marker in the state dir). */
  thawLeftover(diskCid: string): Promise<void>;
}

export function createDiskSnapshots(deps: { config: DisksConfig; runner: CommandRunner; newId: () => string; logger: Logger }): DiskSnapshots {
  const { config, runner } = deps;

  async function thaw(target: string): Promise<void> {
    await runner.run('fsfreeze', ['--unfreeze', target]).catch((error: unknown) => {
      // EINVAL: not frozen (any more). Anything else is worth a log line but must not mask the real outcome.
      deps.logger.warn('fsfreeze --unfreeze failed', { target, error: String(error) });
    });
  }

  /** Freeze, copy, always thaw. The marker names the target so a later call can thaw if we die here. */
  async function copyFrozen(diskCid: string, mountedAt: string, copy: () => Promise<void>): Promise<void> {
    const paths = diskPaths(config, diskCid);
    await mkdir(paths.stateDir, { recursive: true });
    await writeFileAtomic(paths.frozenMarker, mountedAt, { logger: deps.logger });
    try {
      await withContext(`Freezing '${mountedAt}'`, () => runner.run('fsfreeze', ['--freeze', mountedAt]));
      try {
        await copy();
      } finally {
        await thaw(mountedAt);
      }
    } finally {
      await rm(paths.frozenMarker, { force: true });
    }
  }

  return {
    async take(diskCid, metadata, mountedAt) {
      const snapshotCid = deps.newId();
      const paths = snapshotPaths(config, snapshotCid);
      const dir = join(config.disks_dir, 'snapshots');
      const copying = join(dir, tempName(snapshotCid, 'copying'));
      await withContext(`Snapshotting disk '${diskCid}' to '${paths.image}'`, async () => {
        await ensurePrivateDir(config.disks_dir);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await sweepDeadWritersTempFiles(dir, ['copying'], deps.logger);
        const copy = async (): Promise<void> => {
          await inDisksDir(config.disks_dir, `a copy of disk '${diskCid}'`, () =>
            runner.run('cp', ['--reflink=auto', '--sparse=always', diskPaths(config, diskCid).image, copying]),
          );
        };
        try {
          if (mountedAt === null) await copy();
          else await copyFrozen(diskCid, mountedAt, copy);
          await mkdir(paths.stateDir, { recursive: true });
          await writeRecord(paths.metadataFile, { disk_cid: diskCid, created_at: new Date().toISOString(), metadata }, { logger: deps.logger });
          await rename(copying, paths.image);
        } catch (error) {
          await rm(copying, { force: true });
          await rm(paths.stateDir, { recursive: true, force: true });
          throw error;
        }
      });
      return snapshotCid;
    },

    async remove(snapshotCid) {
      const paths = snapshotPaths(config, snapshotCid);
      await withContext(`Deleting snapshot '${snapshotCid}'`, async () => {
        await rm(paths.image, { force: true });
        await rm(paths.stateDir, { recursive: true, force: true });
      });
    },

    async thawLeftover(diskCid) {
      const marker = diskPaths(config, diskCid).frozenMarker;
      const target = await readOwnFile(marker).catch((error: unknown) => {
        deps.logger.warn('Cannot read the frozen marker; leaving it', { disk: diskCid, marker, error: String(error) });
        return undefined;
      });
      if (target === undefined) return;
      deps.logger.warn('Thawing a filesystem left frozen by an interrupted snapshot', { disk: diskCid, target });
      if (target) await thaw(target);
      await rm(marker, { force: true });
    },
  };
}
