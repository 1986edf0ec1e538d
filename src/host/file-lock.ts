import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger';
import { CloudError } from '../errors/cpi-errors';
import { isProcessAlive } from './process-alive';

/**
 * Cross-process locks: each CPI call is its own OS process, so in-memory mutexes do not help.
 * A lock is a file `<dir>/<name>.lock` created with O_EXCL holding the owner's pid. A lock whose
 * owner died (SIGKILL, OOM) is taken over once its pid is gone.
 */
export interface Locks {
  withLock<T>(name: string, work: () => Promise<T>, options?: { timeoutMs?: number }): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createFileLocks(dir: string, logger: Logger): Locks {
  async function tryAcquire(path: string): Promise<boolean> {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && !isProcessAlive(owner)) {
      // Move the stale file aside under a unique name so two waiters cannot both remove a fresh lock.
      const aside = `${path}.stale-${process.pid}`;
      await rename(path, aside).catch(() => undefined);
      const movedOwner = Number.parseInt(await readFile(aside, 'utf8').catch(() => ''), 10);
      if (movedOwner === owner) {
        logger.warn('Took over a lock left by a dead process', { lock: path, pid: owner });
        await unlink(aside).catch(() => undefined);
      } else if (Number.isInteger(movedOwner)) {
        // We moved a live owner's fresh lock: put it back.
        await rename(aside, path).catch(() => undefined);
      }
    }
    return false;
  }

  return {
    async withLock(name, work, options = {}) {
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.includes('..')) {
        throw new CloudError(`Invalid lock name '${name}'`);
      }
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${name}.lock`);
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const started = Date.now();
      let delay = 10;
      let logged = false;
      while (!(await tryAcquire(path))) {
        if (Date.now() - started > timeoutMs) {
          throw new CloudError(`Timed out after ${timeoutMs} ms waiting for lock '${path}'`);
        }
        if (!logged) {
          logger.info('Waiting for lock', { lock: path });
          logged = true;
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 250);
      }
      try {
        return await work();
      } finally {
        await unlink(path).catch(() => undefined);
      }
    },
  };
}
