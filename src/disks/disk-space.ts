import { CommandFailed } from '../host/command-runner';
import { NoDiskSpace } from '../errors/cpi-errors';

/**
 * The filesystem holding disks_dir is out of room for an image (create_disk, resize_disk/update_disk,
 * snapshot_disk): ENOSPC, a quota (EDQUOT), or a file larger than it allows (EFBIG), whether it came from
 * Node or from a command's stderr (mkfs.ext4, resize2fs, cp, truncate).
 */
export function isOutOfSpace(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return true;
    if (current instanceof CommandFailed && /no space left on device|disk quota exceeded|file too large/i.test(current.stderr)) return true;
  }
  return false;
}

/**
 * Runs a step that writes an image into disks_dir; running out of room there is the Director's
 * `NoDiskSpace` (ok_to_retry false: the space does not come back by itself), naming the dir and the cause.
 */
export async function inDisksDir<T>(disksDir: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!isOutOfSpace(error)) throw error;
    const cause = error instanceof Error ? error.message : String(error);
    throw new NoDiskSpace(`disks_dir '${disksDir}' cannot hold ${what}: ${cause}`, { okToRetry: false, cause: error });
  }
}
