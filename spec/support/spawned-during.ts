import childProcess, { type ChildProcess } from 'node:child_process';

/**
 * The commands started through `child_process.spawn` or `execFile` while `work` runs (the module's own
 * functions are wrapped for the duration, so code that imported them by name is counted too).
 */
export async function spawnedDuring(work: () => Promise<unknown>): Promise<string[]> {
  const spawned: string[] = [];
  const originals = { spawn: childProcess.spawn, execFile: childProcess.execFile };
  childProcess.spawn = ((command: string, ...rest: unknown[]) => {
    spawned.push(command);
    return (originals.spawn as (...args: unknown[]) => ChildProcess)(command, ...rest);
  }) as typeof childProcess.spawn;
  childProcess.execFile = ((command: string, ...rest: unknown[]) => {
    spawned.push(command);
    return (originals.execFile as (...args: unknown[]) => ChildProcess)(command, ...rest);
  }) as typeof childProcess.execFile;
  try {
    await work();
  } finally {
    Object.assign(childProcess, originals);
  }
  return spawned;
}
