import type { CommandRunner } from '../host/command-runner';
import { CommandFailed } from '../host/command-runner';
import { stat } from 'node:fs/promises';
import { withContext, wrapError } from '../errors/cpi-errors';

/**
 * mkfs.ext4 extended options for a brand-new sparse image. The file reads as zeros, so zeroing is wasted work:
 * - lazy_itable_init=0 marks the inode tables zeroed, so the kernel's ext4lazyinit thread does not walk the
 *   whole disk in the background after the first mount (it competes with the job's first writes);
 * - lazy_journal_init=1 skips writing the journal (32 MiB at 1 GiB, 64 MiB at 10 GiB+), which keeps the image
 *   sparse; safe because the unwritten blocks of a new file read as zeros.
 * Both exist since e2fsprogs 1.42 (unlike assume_storage_prezeroed, 1.47+), so older hosts accept them.
 * bench/disk-create.ts measures this against the defaults.
 */
export const MKFS_EXT4_EXTENDED_OPTIONS = 'lazy_itable_init=0,lazy_journal_init=1';

/** `truncate -s <n>M` + `mkfs.ext4 -F -q`: a sparse ext4 image of exactly `sizeMb` MiB. */
export async function makeExt4Image(
  runner: CommandRunner,
  path: string,
  sizeMb: number,
  extendedOptions: string | null = MKFS_EXT4_EXTENDED_OPTIONS,
): Promise<void> {
  await withContext('Creating sparse file', () => runner.run('truncate', ['-s', `${sizeMb}M`, path]));
  const options = extendedOptions === null ? [] : ['-E', extendedOptions];
  await withContext('Making ext4 filesystem', () => runner.run('mkfs.ext4', ['-F', '-q', ...options, path]));
}

/**
 * e2fsck exit codes 1 and 2 mean "errors corrected"; resize2fs refuses to grow a filesystem that has not
 * been checked since it was last mounted, so a forced check comes first.
 */
async function checkFilesystem(runner: CommandRunner, path: string): Promise<void> {
  try {
    await runner.run('e2fsck', ['-f', '-y', path]);
  } catch (error) {
    if (error instanceof CommandFailed && (error.exitCode === 1 || error.exitCode === 2)) return;
    throw error;
  }
}

/** The filesystem's own size in bytes (superblock: block count x block size), from `dumpe2fs -h`. */
async function filesystemBytes(runner: CommandRunner, path: string): Promise<number | undefined> {
  const { stdout } = await runner.run('dumpe2fs', ['-h', path]);
  const count = /^Block count:\s+(\d+)$/m.exec(stdout)?.[1];
  const size = /^Block size:\s+(\d+)$/m.exec(stdout)?.[1];
  return count === undefined || size === undefined ? undefined : Number(count) * Number(size);
}

/**
 * After a grow that failed half-way (resize2fs out of space leaves the filesystem needing `e2fsck -fy`):
 * give the file its old size back when the filesystem still has its old size (which frees the space the
 * attempt took), then repair. The disk is as it was before the call, its data intact.
 */
async function undoGrow(runner: CommandRunner, path: string, originalBytes: number): Promise<void> {
  const fsBytes = await filesystemBytes(runner, path).catch(() => undefined);
  if (fsBytes !== undefined && fsBytes <= originalBytes) await runner.run('truncate', ['-s', String(originalBytes), path]);
  await checkFilesystem(runner, path);
}

/**
 * Grows a detached image to `sizeMb` MiB and its filesystem to fill it. Re-running it after a crash at any
 * point finishes the job (truncate to the same size is a no-op, resize2fs grows to whatever the file holds).
 * A failed grow is undone (file size back, filesystem repaired) before the error is passed on.
 */
export async function growExt4Image(runner: CommandRunner, path: string, sizeMb: number): Promise<void> {
  await withContext('Checking filesystem', () => checkFilesystem(runner, path));
  const originalBytes = (await stat(path)).size;
  try {
    await withContext('Growing image file', () => runner.run('truncate', ['-s', `${sizeMb}M`, path]));
    await withContext('Growing filesystem', () => runner.run('resize2fs', [path]));
  } catch (error) {
    await undoGrow(runner, path, originalBytes).catch((undoError: unknown) => {
      throw wrapError(`${(error as Error).message}; undoing the grow failed too (run 'e2fsck -fy ${path}')`, undoError);
    });
    throw error;
  }
}
