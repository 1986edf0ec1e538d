import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import { spawnedDuring } from '../support/spawned-during';

async function withDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'file-lock-'));
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Another process holding lock `name` of `dir`; resolves once it holds it. */
async function holderProcess(dir: string, name: string): Promise<ChildProcess> {
  const holder = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'lock-holder.ts'), dir, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout?.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`lock holder exited ${String(code)}`)));
  });
  return holder;
}

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
      await assert.rejects(
        locks.withLock('x', async () => Promise.reject(new Error('boom'))),
        /boom/,
      );
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
    });
  });

  it('waits for a live holder (another process) and gives up after the timeout with a clear error', async () => {
    await withDir(async (dir) => {
      const holder = await holderProcess(dir, 'disk-2');
      try {
        const locks = createFileLocks(dir, silentLogger);
        const started = Date.now();
        await assert.rejects(
          locks.withLock('disk-2', async () => 'never', { timeoutMs: 300 }),
          /Timed out after 300 ms waiting for lock/,
        );
        assert.ok(Date.now() - started < 2000);
      } finally {
        holder.kill('SIGKILL');
      }
    });
  });

  it('is free as soon as its holder is SIGKILLed', async () => {
    await withDir(async (dir) => {
      const holder = await holderProcess(dir, 'disk-4');
      const locks = createFileLocks(dir, silentLogger);
      const waiting = locks.withLock('disk-4', async () => Date.now(), { timeoutMs: 10_000 });
      await sleep(300);
      const killedAt = Date.now();
      holder.kill('SIGKILL');

      const gotAt = await waiting;
      assert.ok(gotAt >= killedAt && gotAt - killedAt < 1000, `got the lock ${gotAt - killedAt} ms after the kill`);
    });
  });

  it('takes and releases a lock without starting a process', async () => {
    await withDir(async (dir) => {
      const locks = createFileLocks(dir, silentLogger);
      const spawned = await spawnedDuring(() =>
        Promise.all([locks.withLock('vm-1', async () => sleep(20)), locks.withLock('vm-1', async () => sleep(20))]),
      );
      assert.deepEqual(spawned, []);
    });
  });

  it('is one lock for two spellings of the same dir (a symlink)', async () => {
    await withDir(async (dir) => {
      await mkdir(join(dir, 'real'));
      await symlink(join(dir, 'real'), join(dir, 'link'));
      const holder = await holderProcess(join(dir, 'real'), 'disk-5');
      try {
        const locks = createFileLocks(join(dir, 'link'), silentLogger);
        await assert.rejects(
          locks.withLock('disk-5', async () => 'never', { timeoutMs: 300 }),
          /Timed out after 300 ms/,
        );
      } finally {
        holder.kill('SIGKILL');
      }
    });
  });

  it('refuses lock names that are not plain', async () => {
    await withDir(async (dir) => {
      const locks = createFileLocks(dir, silentLogger);
      await assert.rejects(
        locks.withLock('../etc', async () => 1),
        /Invalid lock name/,
      );
      await assert.rejects(
        locks.withLock('a/b', async () => 1),
        /Invalid lock name/,
      );
    });
  });

  it('is free at once when its holder was killed and its pid now belongs to another process', async () => {
    await withDir(async (dir) => {
      // Staleness by pid cannot tell a dead holder from a new process that got its pid (here: pid 1).
      await writeFile(join(dir, 'disk-3.lock'), '1\n');
      const locks = createFileLocks(dir, silentLogger);
      const started = Date.now();
      assert.equal(await locks.withLock('disk-3', async () => 'free', { timeoutMs: 2000 }), 'free');
      assert.ok(Date.now() - started < 1000);
    });
  });

  it('goes to exactly one of three contenders when its last holder was killed (200 rounds)', async () => {
    await withDir(async (dir) => {
      // What a SIGKILLed holder leaves behind: its lock file, naming a pid that is gone.
      const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
      const locks = createFileLocks(dir, silentLogger);
      let inside = 0;
      let overlaps = 0;
      for (let round = 0; round < 200; round += 1) {
        await writeFile(join(dir, 'r.lock'), `${dead}\n`);
        const contender = () =>
          locks.withLock(
            'r',
            async () => {
              inside += 1;
              if (inside > 1) overlaps += 1;
              await sleep(Math.random() * 2);
              inside -= 1;
            },
            { timeoutMs: 10_000 },
          );
        await Promise.all([contender(), contender(), contender()]);
      }
      assert.equal(overlaps, 0, `two holders at once in ${overlaps} rounds`);
    });
  });

  it('is never held by two processes at once while holders are SIGKILLed at random', { timeout: 180_000 }, async () => {
    await withDir(async (dir) => {
      const contender = join(__dirname, 'lock-contender.ts');
      const running = new Set<ChildProcess>();
      const exits: Promise<unknown>[] = [];
      const start = () => {
        const child = spawn(process.execPath, ['--import', 'tsx', contender, dir, '100000'], { stdio: ['ignore', 'ignore', 'inherit'] });
        running.add(child);
        exits.push(new Promise((resolve) => child.once('exit', () => resolve(running.delete(child)))));
      };
      for (let i = 0; i < 8; i += 1) start();
      // Wait until the contenders are taking the lock, then kill one every 40-120 ms (mostly the holder), replacing it.
      const journalLines = async () => (await readFile(join(dir, 'journal'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      for (let i = 0; i < 400 && (await journalLines()).length < 50; i += 1) await sleep(25);
      let kills = 0;
      // At least 8 s, then until enough rounds and kills are seen (a loaded machine starts contenders slowly), at most 60 s.
      const started = Date.now();
      while (Date.now() - started < 8000 || (((await journalLines()).length < 60 || kills < 30) && Date.now() - started < 60_000)) {
        await sleep(40 + Math.random() * 80);
        // Mostly the holder (its lock is then left by a dead process), sometimes a waiter.
        const holder = Number((await readFile(join(dir, 'holder'), 'utf8').catch(() => '')) || 0);
        const victims = [...running];
        const victim = victims.find((child) => child.pid === holder && Math.random() < 0.8) ?? victims[Math.floor(Math.random() * victims.length)];
        if (victim?.kill('SIGKILL')) kills += 1;
        start();
      }
      for (const child of running) child.kill('SIGKILL');
      await Promise.all(exits);

      const violations = await readFile(join(dir, 'violations'), 'utf8').catch(() => '');
      assert.equal(violations, '', 'two holders at once');
      const values = (await journalLines()).map((line) => Number(line.split(' ')[0]));
      assert.ok(values.length >= 50, `enough rounds under the lock: ${values.length}`);
      assert.ok(kills > 25, `enough kills: ${kills}`);
      // Every increment read the value the previous holder wrote: a lost update would repeat a value.
      assert.equal(new Set(values).size, values.length, 'the shared counter lost an update');
      for (let i = 1; i < values.length; i += 1) assert.ok(values[i]! > values[i - 1]!, `counter went ${values[i - 1]} -> ${values[i]}`);
      console.log(`lock stress: ${values.length} rounds, ${kills} holders or waiters killed, no overlap`);
    });
  });
});
