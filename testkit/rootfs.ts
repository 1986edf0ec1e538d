import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/**
 * The one rootfs builder of the tests, the demo and the benchmarks: busybox-static (Debian package
 * busybox-static) with every applet linked where `busybox --list-full` puts it, the dirs a BOSH stemcell
 * has, and a root and a vcap user. Built once into `.cache/fixtures/` under a key made of everything that
 * goes into it (the busybox binary's bytes and this file's layout), so a new busybox or a changed layout
 * builds a new tree instead of reusing a stale one. Callers get their own copy (`cp -a`), so none can
 * change what another sees.
 */

const run = promisify(execFile);

/** Where built fixtures are kept between runs (gitignored). */
export const FIXTURE_CACHE = resolve(__dirname, '../.cache/fixtures');

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
/** The busybox the rootfs is made of (the first that exists; '/bin/busybox' when none does). */
export const BUSYBOX = BUSYBOX_CANDIDATES.find((path) => existsSync(path)) ?? '/bin/busybox';

const DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'var/vcap/bosh/bin', 'var/vcap/data', 'proc', 'dev', 'sys', 'root'];
const FILES: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nvcap:x:1000:1000::/home/vcap:/bin/sh\n',
  'etc/group': 'root:x:0:\nvcap:x:1000:\n',
  'etc/hostname': 'stemcell\n',
};

/** Exec mode needs root, Linux and a static busybox; tests skip with this reason otherwise. */
export function execModeUnavailable(): string | false {
  if (process.platform !== 'linux') return 'exec mode needs Linux';
  if (process.getuid?.() !== 0) return 'exec mode needs root';
  if (!existsSync(BUSYBOX)) return 'needs busybox-static (apt-get install busybox-static)';
  // A dynamic busybox would not run inside a chroot without its libraries.
  if (hasInterpreter(readFileSync(BUSYBOX))) return `${BUSYBOX} is not static (install busybox-static)`;
  return false;
}

/** True when a 64-bit ELF has a PT_INTERP program header, i.e. needs a dynamic loader. */
function hasInterpreter(elf: Buffer): boolean {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i += 1) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A key of everything that goes into the rootfs. */
export async function rootfsKey(): Promise<string> {
  if (!(await exists(BUSYBOX))) throw new Error('busybox-static is not installed (apt-get install busybox-static; .ci/run does this)');
  return createHash('sha256')
    .update(await readFile(BUSYBOX))
    .update(JSON.stringify({ DIRS, FILES }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Builds `name` in FIXTURE_CACHE once: `build(dir)` fills a fresh dir, which is renamed into place, so a
 * concurrent test file building the same fixture uses whichever copy landed first. Returns its path.
 */
export async function cachedFixture(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(FIXTURE_CACHE, name);
  if (await exists(dir)) return dir;
  await mkdir(FIXTURE_CACHE, { recursive: true });
  const work = await mkdtemp(join(FIXTURE_CACHE, 'build-'));
  try {
    await build(join(work, 'out'));
    await rename(join(work, 'out'), dir).catch(async (error: unknown) => {
      if (!(await exists(dir))) throw error;
    });
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildRootfs(rootfs: string): Promise<void> {
  for (const dir of DIRS) await mkdir(join(rootfs, dir), { recursive: true });
  await copyFile(BUSYBOX, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  const { stdout } = await run(BUSYBOX, ['--list-full']);
  for (const applet of stdout.split('\n').filter((line) => line.trim() !== '' && line !== 'bin/busybox')) {
    await symlink('/bin/busybox', join(rootfs, applet)).catch(() => undefined);
  }
  for (const [path, content] of Object.entries(FILES)) await writeFile(join(rootfs, path), content);
  await chmod(join(rootfs, 'tmp'), 0o1777);
}

/** The cached rootfs itself: read it, never change it (busyboxRootfs gives a copy to change). */
export async function cachedBusyboxRootfs(): Promise<string> {
  return cachedFixture(`busybox-rootfs-${await rootfsKey()}`, buildRootfs);
}

/** A copy of the busybox rootfs at `dest` (created; its parent must exist). Returns `dest`. */
export async function busyboxRootfs(dest: string): Promise<string> {
  const cached = await cachedBusyboxRootfs();
  await mkdir(dest, { recursive: true });
  await run('cp', ['-a', `${cached}/.`, dest]);
  return dest;
}
