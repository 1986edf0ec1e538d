import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger';
import { CloudError } from '../errors/cpi-errors';

/**
 * Cross-process locks: each CPI call is its own OS process, so in-memory mutexes do not help.
 *
 * A lock is the kernel's flock(2) on `<dir>/<name>.lock`, held through a file descriptor of the CPI process
 * itself, so the kernel drops it the moment that process ends, however it ends (SIGKILL, OOM): there is no
 * owner pid to check and nothing to take over. Node cannot call flock(2), so util-linux `flock <fd>` does it:
 * the child is given our descriptor as its fd 3, locks the open file description it shares with us, and
 * exits; the lock stays with our descriptor until we close it (docs/locks.md).
 *
 * The file is removed on release, so a holder re-checks after locking that the path still names the file
 * it locked (a waiter may have locked a file its holder has just removed); if not, it starts over.
 */
export interface Locks {
  /**
   * Runs `work` holding the lock `name` (letters, digits, `.`, `_`, `-`). Waits at most `timeoutMs`
   * (default 10 minutes), logging once when it has to wait; a timeout is a CloudError naming the lock.
   */
  withLock<T>(name: string, work: () => Promise<T>, options?: { timeoutMs?: number }): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
/** A wait longer than this is logged ("Waiting for lock"). */
const LOG_WAIT_AFTER_MS = 100;
/** flock's exit code when the timeout ran out (our choice, via --conflict-exit-code). */
const TIMED_OUT = 75;
// Director workers may run the CPI with a minimal PATH; flock lives in /usr/bin (util-linux).
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Locks the open file description behind `fd` with `flock --exclusive --timeout <s> 3`; resolves true
 * when locked, false when the timeout ran out.
 */
function flockDescriptor(fd: number, timeoutMs: number, onSlow: () => void): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--exclusive', '--timeout', (timeoutMs / 1000).toFixed(3), '--conflict-exit-code', String(TIMED_OUT), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      env: { PATH: `${process.env.PATH ?? ''}:${SYSTEM_PATH}`, LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text.slice(0, 2000);
    });
    const slow = setTimeout(onSlow, LOG_WAIT_AFTER_MS);
    child.once('error', (error) => {
      clearTimeout(slow);
      reject(new CloudError(`Cannot run flock (util-linux) to take a lock: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(slow);
      if (code === 0) resolve(true);
      else if (code === TIMED_OUT) resolve(false);
      else reject(new CloudError(`flock failed (${code ?? signal ?? 'unknown'}): ${stderr.trim() || 'no message'}`));
    });
  });
}

/** Whether `path` still names the file open as `handle` (it may have been removed by its last holder). */
async function stillLinked(handle: FileHandle, path: string): Promise<boolean> {
  const [held, linked] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
  return linked !== undefined && linked.ino === held.ino && linked.dev === held.dev;
}

export function createFileLocks(dir: string, logger: Logger): Locks {
  return {
    async withLock(name, work, options = {}) {
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.includes('..')) {
        throw new CloudError(`Invalid lock name '${name}'`);
      }
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${name}.lock`);
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const started = Date.now();
      let waiting = false;
      const onSlow = () => {
        if (waiting) return;
        waiting = true;
        logger.info('Waiting for lock', { lock: path });
      };

      let handle: FileHandle | undefined;
      while (handle === undefined) {
        const left = timeoutMs - (Date.now() - started);
        if (left <= 0) throw new CloudError(`Timed out after ${timeoutMs} ms waiting for lock '${path}'`);
        const candidate = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
        try {
          if (!(await flockDescriptor(candidate.fd, left, onSlow))) {
            throw new CloudError(`Timed out after ${timeoutMs} ms waiting for lock '${path}'`);
          }
          if (await stillLinked(candidate, path)) handle = candidate;
        } finally {
          if (handle !== candidate) await candidate.close();
        }
      }
      if (waiting) logger.info('Got lock', { lock: path, waitedMs: Date.now() - started });

      try {
        return await work();
      } finally {
        // Unlinked while still locked: the next holder makes a fresh file, and a waiter on this one starts over.
        await unlink(path).catch(() => undefined);
        await handle.close();
      }
    },
  };
}
