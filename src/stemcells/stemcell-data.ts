import { lstat, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locks } from '../host/file-lock';
import type { Logger } from '../log/logger';
import { dataName, dataRecordPath, keyOfDataName, lockNameForKey } from './stemcell-layout';
import { sweepDeadWritersTempFiles, tempName } from '../host/temp-files';
import { removeTree } from '../host/remove-tree';

/** The filesystem operations on stemcells_dir shared by import, delete and leftover cleanup. */
export interface StemcellDataDirs {
  stemcellsDir: string;
  stateDir: string;
  newId: () => string;
}

export async function pathExists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** cids (entries not starting with '.') whose symlink points at `.data-<key>`. */
export async function cidsUsing(dirs: StemcellDataDirs, key: string): Promise<string[]> {
  const users: string[] = [];
  for (const name of await readdir(dirs.stemcellsDir)) {
    if (name.startsWith('.')) continue;
    const target = await readlink(join(dirs.stemcellsDir, name)).catch(() => undefined);
    if (target === dataName(key)) users.push(name);
  }
  return users;
}

/** Makes `<cid>` appear atomically as a relative symlink to the data (made beside it, then renamed). */
export async function linkCid(dirs: StemcellDataDirs, cid: string, key: string): Promise<void> {
  const temp = join(dirs.stemcellsDir, tempName(cid, 'link'));
  await symlink(dataName(key), temp);
  try {
    await rename(temp, join(dirs.stemcellsDir, cid));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Renames an entry out of sight first (so it vanishes at once), then removes it with removeTree: in
 * constant memory, as fast as `rm -rf`, never into another filesystem.
 */
export async function removeEntry(dirs: StemcellDataDirs, name: string): Promise<void> {
  const aside = join(dirs.stemcellsDir, tempName(name, 'delete'));
  try {
    await rename(join(dirs.stemcellsDir, name), aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await removeTree(aside);
}

/** Removes `.data-<key>` and its record once no cid uses it. Call under the key's lock. */
export async function removeDataIfUnused(dirs: StemcellDataDirs, key: string, logger: Logger): Promise<boolean> {
  const users = await cidsUsing(dirs, key);
  if (users.length > 0) {
    logger.info('Stemcell data still in use; keeping it', { data: dataName(key), cids: users });
    return false;
  }
  await removeEntry(dirs, dataName(key));
  await rm(dataRecordPath(dirs.stateDir, key), { force: true });
  logger.info('Removed stemcell data', { data: dataName(key) });
  return true;
}

/**
 * Cleans what killed imports and deletes left behind: temporaries whose owner pid is dead, and data
 * no cid links to (a kill between renaming the data into place and linking the cid). Best effort.
 */
export async function cleanLeftovers(dirs: StemcellDataDirs, locks: Locks, logger: Logger): Promise<void> {
  await sweepDeadWritersTempFiles(dirs.stemcellsDir, ['import', 'link', 'delete'], logger);
  const names = await readdir(dirs.stemcellsDir).catch(() => [] as string[]);
  const linked = new Set<string>();
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const target = await readlink(join(dirs.stemcellsDir, name)).catch(() => undefined);
    if (target !== undefined) linked.add(target);
  }
  for (const name of names) {
    const key = keyOfDataName(name);
    if (key === undefined || linked.has(name)) continue;
    // Under the key's lock: an import holding it may be about to link this data.
    await locks
      .withLock(lockNameForKey(key), () => removeDataIfUnused(dirs, key, logger), { timeoutMs: 1000 })
      .catch((error: unknown) => logger.warn('Could not remove unused stemcell data', { data: dataName(key), error: String(error) }));
  }
}
