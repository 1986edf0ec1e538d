import childProcess, { type ChildProcess } from 'node:child_process';

/**
 * The commands started through `child_process.spawn` while `work` runs (the module's own function is
 * wrapped for the duration, so code that imported it by name is counted too).
 */
export async function spawnedDuring(work: () => Promise<unknown>): Promise<string[]> {
  const spawned: string[] = [];
  const original = childProcess.spawn;
  childProcess.spawn = ((command: string, ...rest: unknown[]) => {
    spawned.push(command);
    return (original as (...args: unknown[]) => ChildProcess)(command, ...rest);
  }) as typeof childProcess.spawn;
  try {
    await work();
  } finally {
    childProcess.spawn = original;
  }
  return spawned;
}
