// A process that takes one lock again and again (spec/host/file-lock.spec.ts kills such processes at random).
// Inside the lock it checks that nobody else is inside, and bumps a shared counter with a read-modify-write
// that loses updates if two holders ever overlap: `node --import tsx lock-contender.ts <dir> <rounds>`.
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';

const [dir = '', rounds = '100'] = process.argv.slice(2);
const locks = createFileLocks(join(dir, 'locks'), silentLogger);
const holderFile = join(dir, 'holder');
const counterFile = join(dir, 'counter');
const me = String(process.pid);

/** A live process, not a zombie waiting to be reaped (a killed holder stays a zombie for a moment). */
async function isRunning(pid: string): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/**
 * `pid` is alive and not on its way out. A SIGKILLed holder's sockets close (freeing the lock) a moment before
 * it turns into a zombie, so a holder found running is looked at again after a pause: one that was killed
 * is a zombie or gone by then, while a real second holder still runs (it loops over many rounds).
 */
async function stillRunning(pid: string): Promise<boolean> {
  if (!(await isRunning(pid))) return false;
  await new Promise((resolve) => setTimeout(resolve, 500));
  return isRunning(pid);
}

async function violation(text: string): Promise<void> {
  await appendFile(join(dir, 'violations'), `${me}: ${text}\n`);
}

async function main(): Promise<void> {
  for (let round = 0; round < Number(rounds); round += 1) {
    await locks.withLock('counter', async () => {
      const before = (await readFile(holderFile, 'utf8').catch(() => '')).trim();
      if (before !== '' && before !== me && (await stillRunning(before))) await violation(`entered while ${before} is inside`);
      await writeFile(holderFile, me);
      const value = Number((await readFile(counterFile, 'utf8').catch(() => '0')) || '0') + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      // Replaced whole (a kill mid-write must not leave it empty and restart the count).
      await writeFile(`${counterFile}.${me}`, String(value));
      await rename(`${counterFile}.${me}`, counterFile);
      await appendFile(join(dir, 'journal'), `${value} ${me}\n`);
      const after = (await readFile(holderFile, 'utf8').catch(() => '')).trim();
      if (after !== me) await violation(`found ${after || 'nobody'} inside while holding the lock`);
      await writeFile(holderFile, '');
    });
  }
}

void main().then(
  () => process.exit(0),
  async (error: unknown) => {
    await violation(`failed: ${String(error)}`);
    process.exit(1);
  },
);
