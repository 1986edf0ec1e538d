import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger';
import { isProcessAlive } from './process-alive';

/**
 * Temp files built beside their final name carry their owner's pid (`.<name>.<kind>-<pid>`), so that a later
 * call can tell the leftovers of a killed process from the work of one still running.
 */
export function ownedTempName(name: string, kind: string): string {
  return `.${name}.${kind}-${process.pid}`;
}

/** Removes the `.<name>.<kind>-<pid>` files in `dir` whose owner is dead; returns what it removed. */
export async function removeDeadOwnersTempFiles(dir: string, kind: string, logger: Logger): Promise<string[]> {
  const pattern = new RegExp(`^\\..+\\.${kind}-(\\d+)$`);
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const owner = Number(pattern.exec(name)?.[1]);
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || isProcessAlive(owner)) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  if (removed.length > 0) logger.warn('Removed leftovers of killed CPI calls', { dir, files: removed });
  return removed;
}
