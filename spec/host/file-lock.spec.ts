import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';

async function withDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'file-lock-'));
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('file locks', () => {
  it('serialises holders of the same name and leaves no lock file behind', async () => {
    await withDir(async (dir) => {
      const locks = createFileLocks(dir, silentLogger);
      const events: string[] = [];
      const holder = (id: string) =>
        locks.withLock('vm-1', async () => {
          events.push(`${id} in`);
          await sleep(30);
          events.push(`${id} out`);
        });
      await Promise.all([holder('a'), holder('b'), holder('c')]);
      for (let i = 0; i < events.length; i += 2) {
        assert.equal(events[i]?.replace(' in', ''), events[i + 1]?.replace(' out', ''), events.join(', '));
      }
      assert.deepEqual(await readdir(dir), []);
    });
  });

  it('releases the lock when the work throws', async () => {
    await withDir(async (dir) => {
      const locks = createFileLocks(dir, silentLogger);
      await assert.rejects(locks.withLock('x', async () => Promise.reject(new Error('boom'))), /boom/);
      assert.equal(await locks.withLock('x', async () => 'again'), 'again');
    });
  });

  it('takes over a lock whose owner died', async () => {
    await withDir(async (dir) => {
      // A pid that is certainly gone: a child that has already exited.
      const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
      await writeFile(join(dir, 'disk-1.lock'), `${dead}\n`);
      const locks = createFileLocks(dir, silentLogger);
      assert.equal(await locks.withLock('disk-1', async () => 'taken over', { timeoutMs: 5000 }), 'taken over');
      assert.deepEqual(await readdir(dir), []);
    });
  });

  it('waits for a live owner and gives up after the timeout with a clear error', async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, 'disk-2.lock'), `${process.pid}\n`);
      const locks = createFileLocks(dir, silentLogger);
      await assert.rejects(locks.withLock('disk-2', async () => 'never', { timeoutMs: 200 }), /Timed out after 200 ms waiting for lock/);
    });
  });

  it('refuses lock names that are not plain', async () => {
    await withDir(async (dir) => {
      const locks = createFileLocks(dir, silentLogger);
      await assert.rejects(locks.withLock('../etc', async () => 1), /Invalid lock name/);
      await assert.rejects(locks.withLock('a/b', async () => 1), /Invalid lock name/);
    });
  });
});
