import { spawn } from 'node:child_process';
import { isAbsolute } from 'node:path';

const MAX_STDERR = 64 * 1024;

/**
 * Removes a directory tree (or a file, or a symlink without following it) in constant memory and at
 * rm's speed: `rm -rf --one-file-system -- <path>` (Node's recursive rm holds the tree's names in memory:
 * 1.89 GB and 65 s for a million entries, against 2.3 MB and 19 s for rm). `--one-file-system` never
 * descends into a mount (a disk or bind mount left inside is not emptied; rm then fails on it). Callers
 * pass only paths they own, usually renamed aside first so the tree vanishes at once. A missing path is
 * fine. Rejects with rm's stderr (at most 64 KiB) when anything is left.
 */
export function removeTree(path: string): Promise<void> {
  if (!isAbsolute(path) || path === '/') return Promise.reject(new Error(`Refusing to remove '${path}': not an absolute path below /`));
  return new Promise((resolve, reject) => {
    const child = spawn('rm', ['-rf', '--one-file-system', '--', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.slice(0, MAX_STDERR - stderr.length);
    });
    child.once('error', (error) => reject(new Error(`Removing '${path}': cannot run rm: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`Removing '${path}': rm failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim().split('\n').slice(0, 5).join('; ')}`));
    });
  });
}
