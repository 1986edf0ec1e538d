import { readFile, readlink } from 'node:fs/promises';

/** Waits until `pid` has exec'd `sleep` with its cwd in `dir` (so it really holds the mount). */
export async function untilRunningIn(pid: number, dir: string): Promise<void> {
  for (let i = 0; i < 500; i += 1) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (cwd === dir && comm.trim() === 'sleep') return;
    await new Promise((done) => setTimeout(done, 10));
  }
  throw new Error(`pid ${pid} never ran in ${dir}`);
}
