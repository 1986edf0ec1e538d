import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CloudError } from '../errors/cpi-errors';

/**
 * Reads one of the CPI's own records: it must be a regular file at that very name. A symlink (or a dir, a
 * device, a FIFO) is refused, never followed: the CPI only ever reads what it wrote. Missing: undefined.
 */
export async function readOwnFile(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CloudError(`'${path}' is a symlink, expected a regular file written by the CPI`);
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) throw new CloudError(`'${path}' is not a regular file written by the CPI`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Opens one of the CPI's own files for rewriting in place, refusing anything but a regular file. */
export async function openOwnFileForUpdate(path: string): Promise<Awaited<ReturnType<typeof open>>> {
  const handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ELOOP') throw new CloudError(`'${path}' is a symlink, expected a regular file written by the CPI`);
    throw error;
  });
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new CloudError(`'${path}' is not a regular file written by the CPI`);
  }
  return handle;
}
