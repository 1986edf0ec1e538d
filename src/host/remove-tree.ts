import { spawn } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';

const MAX_STDERR = 64 * 1024;

/**
 * Removes directory trees (or files, or symlinks without following them) in constant memory and at rm's
 * speed: one `rm -rf --one-file-system -- <paths...>` for all of them (Node's recursive rm holds the tree's
 * names in memory: 1.89 GB and 65 s for a million entries, against 2.3 MB and 19 s for rm).
 * `--one-file-system` never descends into a mount (a disk or bind mount left inside is not emptied; rm then
 * fails on it). Callers pass only paths they own, usually renamed aside first so the tree vanishes at once.
 * Missing paths are fine, and when none of them exists no rm is started (a process costs a CPI call ~10-20
 * ms of CPU: delete_vm of a VM without a root filesystem dir). Rejects with rm's stderr (at most 64 KiB)
 * when anything is left, or at once for a path that is not absolute or is `/`.
 */
export async function removeTrees(paths: readonly string[]): Promise<void> {
  const refused = paths.find((path) => !isAbsolute(path) || path === '/');
  if (refused !== undefined) throw new Error(`Refusing to remove '${refused}': not an absolute path below /`);
  const present: string[] = [];
  for (const path of paths) {
    const found = await lstat(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => error.code !== 'ENOENT', // anything but "missing": let rm say what it is
    );
    if (found) present.push(path);
  }
  if (present.length === 0) return;
  const named = present.map((path) => `'${path}'`).join(', ');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('rm', ['-rf', '--one-file-system', '--', ...present], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.slice(0, MAX_STDERR - stderr.length);
    });
    child.once('error', (error) => reject(new Error(`Removing ${named}: cannot run rm: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`Removing ${named}: rm failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim().split('\n').slice(0, 5).join('; ')}`));
    });
  });
}

/** removeTrees of one path. */
export function removeTree(path: string): Promise<void> {
  return removeTrees([path]);
}
