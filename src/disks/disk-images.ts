import { lstat, rename, rm } from 'node:fs/promises';
import { ensurePrivateDir } from '../host/private-dirs';
import { join } from 'node:path';
import type { CommandRunner } from '../host/command-runner';
import type { Logger } from '../log/logger';
import { DiskNotFound, NotSupported, withContext } from '../errors/cpi-errors';
import { diskPaths, type DisksConfig } from './disk-paths';
import { growExt4Image, makeExt4Image } from './ext4-image';
import { inDisksDir } from './disk-space';
import { sweepDeadWritersTempFiles, tempName } from '../host/temp-files';

const MIB = 1024 * 1024;

/** Persistent disk images: one sparse ext4 file per disk at `<disks_dir>/<cid>` (upstream's layout). */
export interface DiskImages {
  /** Makes a new image and returns its cid; a failure leaves no file behind. No room: NoDiskSpace. */
  create(sizeMb: number): Promise<string>;
  /**
   * True when `<disks_dir>/<cid>` is a regular file of its own (never through a symlink: mount, cp, truncate
   * and resize2fs would otherwise act on whatever host file or device the link names).
   */
  exists(diskCid: string): Promise<boolean>;
  /** The image's size in bytes, or undefined when there is no such disk. */
  sizeBytes(diskCid: string): Promise<number | undefined>;
  /** Removes the image and the CPI's records of it; an unknown cid is a no-op. */
  remove(diskCid: string): Promise<void>;
  /** Grows a detached image and its filesystem to `sizeMb` MiB; shrinking is NotSupported; no room: NoDiskSpace. */
  grow(diskCid: string, sizeMb: number): Promise<void>;
}

export interface DiskImagesDeps {
  config: DisksConfig;
  runner: CommandRunner;
  newId: () => string;
  logger: Logger;
  /** mkfs.ext4 `-E` options (null: mke2fs defaults); see ext4-image.ts. */
  mkfsExtendedOptions?: string | null;
}

export function createDiskImages(deps: DiskImagesDeps): DiskImages {
  async function sizeBytes(diskCid: string): Promise<number | undefined> {
    const info = await lstat(diskPaths(deps.config, diskCid).image).catch(() => undefined);
    return info?.isFile() ? info.size : undefined;
  }

  return {
    async create(sizeMb) {
      const diskCid = deps.newId();
      const { image } = diskPaths(deps.config, diskCid);
      // Built beside its final name and renamed, so a crash never leaves a half-made disk under a cid.
      const building = join(deps.config.disks_dir, tempName(diskCid, 'creating'));
      await withContext(`Creating disk '${diskCid}' of ${sizeMb} MiB`, async () => {
        await ensurePrivateDir(deps.config.disks_dir);
        await ensurePrivateDir(deps.config.state_dir);
        await sweepDeadWritersTempFiles(deps.config.disks_dir, ['creating'], deps.logger);
        try {
          await inDisksDir(deps.config.disks_dir, `a new ${sizeMb} MiB image`, () =>
            makeExt4Image(deps.runner, building, sizeMb, deps.mkfsExtendedOptions),
          );
          await rename(building, image);
        } catch (error) {
          await rm(building, { force: true });
          throw error;
        }
      });
      deps.logger.debug('Created disk image', { disk: diskCid, sizeMb, image });
      return diskCid;
    },

    async exists(diskCid) {
      return (await sizeBytes(diskCid)) !== undefined;
    },

    sizeBytes,

    async remove(diskCid) {
      const paths = diskPaths(deps.config, diskCid);
      await withContext(`Removing disk '${diskCid}'`, async () => {
        // A directory is no disk (`<disks_dir>/snapshots` is named by the cid 'snapshots'): left alone, as
        // an unknown cid.
        const found = await lstat(paths.image).catch(() => undefined);
        if (found !== undefined && !found.isDirectory()) await rm(paths.image, { force: true });
        await rm(paths.stateDir, { recursive: true, force: true });
      });
    },

    async grow(diskCid, sizeMb) {
      await withContext(`Growing disk '${diskCid}' to ${sizeMb} MiB`, async () => {
        const current = await sizeBytes(diskCid);
        if (current === undefined) throw new DiskNotFound(`Disk '${diskCid}' not found`);
        if (sizeMb * MIB < current) {
          throw new NotSupported(`shrinking from ${Math.ceil(current / MIB)} MiB is not supported`);
        }
        await inDisksDir(deps.config.disks_dir, `the image grown to ${sizeMb} MiB`, () =>
          growExt4Image(deps.runner, diskPaths(deps.config, diskCid).image, sizeMb),
        );
      });
    },
  };
}
