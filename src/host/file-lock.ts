import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { type Socket, connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from '../log/logger';
import { CloudError } from '../errors/cpi-errors';

/**
 * Cross-process locks: each CPI call is its own OS process, so in-memory mutexes do not help.
 *
 * A lock is a Unix socket in Linux's abstract namespace, named after the lock's path `<dir>/<name>.lock`
 * (docs/locks.md). Binding the name is atomic, and the kernel frees it the moment its holder's socket
 * closes, which happens when the holder process ends however it ends (SIGKILL, OOM): like flock(2) there
 * is no owner pid to check and nothing to take over, and unlike flock it needs no child process (Node
 * cannot call flock). Nothing is written to disk.
 *
 * A waiter connects to the holder's socket and tries again when that connection closes (the holder
 * released, or died), so waits end at once without polling.
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
/** A waiter also retries this often, in case it never managed to connect to the holder. */
const RETRY_MS = 250;

/** The abstract socket name of the lock at `path` (a hash: names are at most 107 bytes). */
export function lockSocketName(path: string): string {
  return `\0garden-cpi-lock/${createHash('sha256').update(path).digest('hex')}`;
}

/** `dir` with symlinks resolved when it exists, so two spellings of one state dir share their locks. */
function canonicalDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

/** A bound lock socket; `release` frees the name and closes the connections of waiters, which then retry. */
interface HeldLock {
  release(): void;
}

/** Binds `name`; resolves the held lock, or undefined when another process holds it. */
function tryBind(name: string): Promise<HeldLock | undefined> {
  return new Promise((done, fail) => {
    const server = createServer();
    // Waiters connect to learn when we are done: keep their sockets to close them on release.
    const waiters = new Set<Socket>();
    server.on('connection', (socket) => {
      waiters.add(socket);
      socket.on('close', () => waiters.delete(socket));
      socket.on('error', () => undefined);
    });
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') done(undefined);
      else fail(new CloudError(`Cannot take lock socket: ${error.message}`, { cause: error }));
    });
    server.listen(name, () => {
      // Holding a lock never keeps the process alive by itself.
      server.unref();
      done({
        release() {
          server.close();
          for (const socket of waiters) socket.destroy();
        },
      });
    });
  });
}

/** Resolves when the holder of `name` is gone (or after `maxMs`), whichever is first. */
function holderGone(name: string, maxMs: number): Promise<void> {
  return new Promise((done) => {
    const socket = connect(name);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      done();
    };
    const timer = setTimeout(finish, maxMs);
    // ECONNREFUSED (released between our bind and connect), end or close (released or killed).
    socket.once('error', finish);
    socket.once('close', finish);
    socket.resume();
  });
}

export function createFileLocks(dir: string, logger: Logger): Locks {
  let root: string | undefined;
  return {
    async withLock(name, work, options = {}) {
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.includes('..')) {
        throw new CloudError(`Invalid lock name '${name}'`);
      }
      root ??= canonicalDir(dir);
      const path = join(root, `${name}.lock`);
      const socketName = lockSocketName(path);
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const started = Date.now();
      let waiting = false;

      let held: HeldLock | undefined;
      for (;;) {
        held = await tryBind(socketName);
        if (held !== undefined) break;
        const left = timeoutMs - (Date.now() - started);
        if (left <= 0) throw new CloudError(`Timed out after ${timeoutMs} ms waiting for lock '${path}'`);
        if (!waiting && Date.now() - started >= LOG_WAIT_AFTER_MS) {
          waiting = true;
          logger.info('Waiting for lock', { lock: path });
        }
        await holderGone(socketName, Math.min(left, waiting ? RETRY_MS : LOG_WAIT_AFTER_MS));
      }
      if (waiting) logger.info('Got lock', { lock: path, waitedMs: Date.now() - started });

      try {
        return await work();
      } finally {
        held.release();
      }
    },
  };
}
