import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { openOwnFileForUpdate } from '../host/own-files';

/** Writes `path` via a temp file + fsync + rename, so readers and crashes see the old or the new content. */
export async function writeFileAtomic(path: string, content: string, mode = 0o640): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Rewrites a file without replacing its inode: a file bind-mounted into a container keeps showing the
 * inode it was mounted with, so a rename would go unseen (measured on gdn). The new content is padded
 * with trailing newlines to at least the old length and written in one call, so the file is never
 * truncated (a reader never sees it empty or cut short); JSON ignores the trailing whitespace.
 */
export async function rewriteFileInPlace(path: string, content: string): Promise<void> {
  const handle = await openOwnFileForUpdate(path);
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.from(content);
    const padded = bytes.length >= size ? bytes : Buffer.concat([bytes, Buffer.alloc(size - bytes.length, 0x0a)]);
    await handle.write(padded, 0, padded.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
