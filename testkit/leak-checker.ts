import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { parseTempName } from '../src/host/temp-files';

const run = promisify(execFile);

export interface CpiDirs {
  stemcellsDir: string;
  disksDir: string;
  ephemeralDir: string;
  persistentDir: string;
  stateDir: string;
}

export interface LeakReport {
  mounts: string[];
  loopDevices: string[];
  containers: string[];
  lockFiles: string[];
  tempFiles: string[];
}

function decodeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** Mount points (from /proc/self/mountinfo) at or under any of `dirs`. */
export async function mountsUnder(dirs: readonly string[]): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((target): target is string => target !== undefined)
    .map(decodeMountPath)
    .filter((target) => dirs.some((dir) => under(target, dir)));
}

/** Loop devices whose backing file lives under `dir` (disk images, snapshots). */
export async function loopDevicesBackedBy(dir: string): Promise<string[]> {
  const { stdout } = await run('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/, 2))
    .filter(([name, file]) => name !== undefined && file !== undefined && under(file.replace(/ \(deleted\)$/, ''), dir))
    .map(([name, file]) => `${name ?? ''} ${file ?? ''}`);
}

async function walk(dir: string, depth = 3): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    found.push(path);
    if (entry.isDirectory() && depth > 0) found.push(...(await walk(path, depth - 1)));
  }
  return found;
}

/**
 * Everything a CPI call could leave behind: mounts under the CPI dirs, loop devices backed by disk images,
 * containers still in Garden, lock files, and temp files of half-done imports or writes.
 * `listContainers` is the emulator's (or a Garden client's) list of handles.
 */
export async function findLeaks(dirs: CpiDirs, listContainers: () => Promise<string[]> | string[]): Promise<LeakReport> {
  const files = [...(await walk(dirs.stateDir)), ...(await walk(dirs.stemcellsDir, 0)), ...(await walk(dirs.disksDir, 1))];
  return {
    mounts: await mountsUnder([dirs.ephemeralDir, dirs.persistentDir, dirs.disksDir, dirs.stemcellsDir, dirs.stateDir]),
    loopDevices: await loopDevicesBackedBy(dirs.disksDir),
    containers: [...(await listContainers())],
    lockFiles: files.filter((path) => path.endsWith('.lock') || path.includes('.lock.')),
    // Every temp name the CPI makes follows src/host/temp-files.ts.
    tempFiles: files.filter((path) => parseTempName(basename(path)) !== undefined),
  };
}

/** A report with nothing in it, for assert.deepEqual. */
export const NO_LEAKS: LeakReport = { mounts: [], loopDevices: [], containers: [], lockFiles: [], tempFiles: [] };
