import { randomBytes } from 'node:crypto';
import { lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log/logger';
import { currentProcess, isProcessGone } from './process-identity';
import { removeTree } from './remove-tree';

/**
 * The one temp-file scheme. Work in progress is built beside its final place under a hidden name that
 * says what it is for and who writes it, then renamed into place:
 *
 *   `.<name>.<kind>-<pid>-<start time>-<nonce>`   e.g. `.vm.json.tmp-4242-1234567-9f3c1a2b4d5e`
 *
 * `<name>` is the final name (or what the work is about), `<kind>` a lowercase word (`tmp` for records,
 * `creating` for disk images, `import` for stemcells, ...), and `<pid>-<start time>` the writer's
 * ProcessIdentity, so a later call can tell a killed writer's leftovers from live work (process-identity.ts).
 */
export type TempKind = 'tmp' | 'creating' | 'copying' | 'import' | 'link' | 'delete';

const TEMP_NAME = /^\.(.+)\.([a-z]+)-(\d+)-(\d+)-([0-9a-f]+)$/;

/** A fresh temp name for `name` (a bare name, no '/'), owned by this process. */
export function tempName(name: string, kind: TempKind): string {
  const { pid, started } = currentProcess();
  return `.${name}.${kind}-${pid}-${started}-${randomBytes(6).toString('hex')}`;
}

/** A fresh temp path beside `path`, for work that is renamed onto `path` when done. */
export function tempPathBeside(path: string, kind: TempKind): string {
  return join(dirname(path), tempName(basename(path), kind));
}

/** What a temp name says, or undefined for any other name. */
export function parseTempName(name: string): { name: string; kind: string; pid: number; started: string } | undefined {
  const match = TEMP_NAME.exec(name);
  if (match === null) return undefined;
  return { name: match[1] ?? '', kind: match[2] ?? '', pid: Number(match[3]), started: match[4] ?? '' };
}

/**
 * Removes the temp entries in `dir` (files, or trees: removed with removeTree) of the given kinds whose
 * writer has exited: what killed calls left. Live writers' work and other names are not touched. A missing
 * dir is fine. Returns the names removed; a removal that fails is logged and left for the next sweep.
 */
export async function sweepDeadWritersTempFiles(dir: string, kinds: readonly TempKind[], logger: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const temp = parseTempName(name);
    if (temp === undefined || !(kinds as readonly string[]).includes(temp.kind) || !isProcessGone(temp)) continue;
    const path = join(dir, name);
    try {
      if ((await lstat(path)).isDirectory()) await removeTree(path);
      else await rm(path, { force: true });
      removed.push(name);
    } catch (error) {
      logger.warn('Could not remove a leftover of a killed CPI call', { path, error: String(error) });
    }
  }
  if (removed.length > 0) logger.warn('Removed leftovers of killed CPI calls', { dir, names: removed });
  return removed;
}
