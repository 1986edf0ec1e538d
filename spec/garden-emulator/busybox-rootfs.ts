// A minimal rootfs for exec-mode tests: busybox-static (Debian package busybox-static) plus applet symlinks.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

/** Exec mode needs root, Linux and busybox-static; tests skip with this reason otherwise. */
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

export async function makeBusyboxRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (const sub of ['tmp', 'etc', 'proc', 'dev']) await mkdir(join(dir, sub), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  execFileSync('chmod', ['0755', join(dir, 'bin', 'busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((name) => /^[\w.[-]+$/.test(name) && name !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(dir, 'bin', applet));
}
