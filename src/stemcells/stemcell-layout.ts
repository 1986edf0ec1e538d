import { join } from 'node:path';
import { isCid } from '../ids/cid';

/**
 * Names inside stemcells_dir. Every stemcell cid is `<stemcells_dir>/<cid>` as upstream (Garden's image
 * URI); ours is a relative symlink to the data it shares with identical stemcells, `.data-<sha1>-<format>`.
 * Work in progress (an import, a link being made, an entry being deleted) carries a temp name of
 * host/temp-files.ts, so a later import can tell a killed process's leftovers from a live import's.
 */
export type StemcellFormat = 'dir' | 'tar';

export const DATA_PREFIX = '.data-';

export function dataKey(sha1: string, format: StemcellFormat): string {
  return `${sha1.toLowerCase()}-${format}`;
}

export function dataName(key: string): string {
  return `${DATA_PREFIX}${key}`;
}

/** The key of a `.data-<key>` name (a symlink target), or undefined for anything else. */
export function keyOfDataName(name: string): string | undefined {
  return name.startsWith(DATA_PREFIX) && /^[0-9a-f]{40}-(dir|tar)$/.test(name.slice(DATA_PREFIX.length)) ? name.slice(DATA_PREFIX.length) : undefined;
}

export function lockNameForKey(key: string): string {
  return `stemcell-${key}`;
}

export function lightRecordPath(stateDir: string, cid: string): string {
  return join(stateDir, 'stemcells', `light-${cid}.json`);
}

export function dataRecordPath(stateDir: string, key: string): string {
  return join(stateDir, 'stemcells', `data-${key}.json`);
}

/**
 * A cid that may name an entry of stemcells_dir: the one cid rule (src/ids/cid.ts), which also keeps
 * it clear of our hidden (dot) names.
 */
export function isStemcellCid(cid: string): boolean {
  return isCid(cid);
}
