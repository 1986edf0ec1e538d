import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Host programs copied into the rootfs (with their shared libraries) for exec-mode processes. */
const PROGRAMS = ['/bin/sh', '/bin/cat', '/bin/sleep', '/bin/echo', '/bin/true', '/bin/false'];

async function sharedLibraries(program: string): Promise<string[]> {
  const { stdout } = await run('ldd', [program]).catch(() => ({ stdout: '' }));
  return [...stdout.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1] ?? '').filter((lib) => lib !== '');
}

/** A tiny rootfs with /bin/sh and a few coreutils, enough for the emulator's exec mode. */
export async function buildMinimalRootfs(dir: string): Promise<string> {
  for (const sub of ['bin', 'tmp', 'etc', 'var/vcap/bosh']) await mkdir(path.join(dir, sub), { recursive: true });
  await chmod(path.join(dir, 'tmp'), 0o1777);
  const files = new Set<string>();
  for (const program of PROGRAMS) {
    files.add(program);
    for (const lib of await sharedLibraries(program)) files.add(lib);
  }
  for (const file of files) {
    const target = path.join(dir, file);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(file, target);
    await chmod(target, 0o755);
  }
  return dir;
}
