import { readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Logger } from '../log/logger';
import { CommandFailed, type CommandRunner } from './command-runner';
import { CloudError, withContext } from '../errors/cpi-errors';

/** One line of /proc/self/mountinfo (paths decoded). */
export interface MountEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the mounted filesystem's device (`7:3` for /dev/loop3). */
  device: string;
  /** The path inside the source filesystem that is mounted (`/` unless a bind of a subdir). */
  root: string;
  target: string;
  fstype: string;
  /** The device or pseudo source (`/dev/loop3`, `tmpfs`, …). */
  source: string;
  /** Optional fields such as `shared:12`, `master:3`, `unbindable`. */
  propagation: string[];
}

/** Host mount operations (loop devices, bind mounts, propagation), all run as root via mount/umount/losetup. */
export interface HostMounts {
  /** `mount --bind dir dir`; [`--make-unbindable`]; `--make-shared`. A dir already mounted onto itself is not bound twice. */
  bindOntoItself(dir: string, options: { unbindableFirst?: boolean }): Promise<void>;
  /**
   * Unmounts everything at or under each of `dirs`, deepest first, bounded retries on EBUSY, loop devices
   * released. Mounts not backed by a loop device come off with one `umount` process for all of them first
   * (delete_vm's five took five processes, ~10-25 ms each); whatever that leaves (busy, loop-backed) one at
   * a time.
   */
  unmountRecursive(...dirs: string[]): Promise<void>;
  /** Mounts at or under `dir`, from /proc/self/mountinfo, octal escapes decoded, in mount order. */
  mountsUnder(dir: string): Promise<{ target: string; source: string }[]>;
  /**
   * Loop-mounts an image file (`mount --no-canonicalize -o loop image target`); the loop device is freed on
   * unmount. The target is passed to the kernel as given, so `/proc/<pid>/fd/<n>` names exactly the dir
   * the caller opened (no symlink resolved by mount(8) in between).
   */
  mountImage(image: string, target: string): Promise<void>;
  /** Unmounts whatever is mounted exactly at `target` (not mounted: no-op), releasing its loop device. */
  unmount(target: string): Promise<void>;
  /** The mounts stacked exactly at `target` (empty when not a mount point). */
  mountsAt(target: string): Promise<MountEntry[]>;
  /**
   * Loop devices whose backing file is `image`, read from sysfs (`/sys/block/loopN/loop/backing_file`), the
   * same answer as `losetup -j` without starting it: a match by path, or by device and inode when the
   * kernel names the file by another path (a symlink or bind mount on the way). Sorted by device name.
   */
  loopDevicesFor(image: string): Promise<string[]>;
  /** The backing file of a loop device, or null when it is free or gone. */
  loopBackingFile(device: string): Promise<string | null>;
  /**
   * Where a loop device is mounted in OTHER mount namespaces (containers), by device number in
   * /proc/<pid>/mountinfo: e.g. the agent's bind of the disk onto /var/vcap/store outliving the host mount.
   */
  loopDeviceMountsElsewhere(device: string): Promise<{ pid: number; target: string }[]>;
}

export interface HostMountsOptions {
  /** umount attempts while the target is busy (default 10). */
  busyAttempts?: number;
  /** First delay between busy attempts, doubled up to 1 s (default 100 ms). */
  busyDelayMs?: number;
  mountInfoPath?: string;
  /** Where the kernel lists block devices (default /sys/block; tests give a stand-in). */
  sysBlockDir?: string;
  sleep?: (ms: number) => Promise<void>;
}

/** A loop device's `major:minor` (as mountinfo shows it), from sysfs; undefined when it is not a bound loop device. */
export async function loopDeviceNumber(device: string): Promise<string | undefined> {
  const name = basename(device);
  if (!/^loop\d+$/.test(name)) return undefined;
  const number = (await readFile(`/sys/block/${name}/dev`, 'utf8').catch(() => '')).trim();
  return number === '' ? undefined : number;
}

/** Kernel mangling in mountinfo: space, tab, newline and backslash become `\ooo`. */
export function decodeMountPath(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue` (proc(5)). */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2] ?? '',
      root: decodeMountPath(fields[3] ?? ''),
      target: decodeMountPath(fields[4] ?? ''),
      propagation: fields.slice(6, separator),
      fstype: fields[separator + 1] ?? '',
      source: decodeMountPath(fields[separator + 2] ?? ''),
    });
  }
  return entries;
}

function isAtOrUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function depth(path: string): number {
  return path.split('/').filter(Boolean).length;
}

function failureText(error: unknown): string {
  if (error instanceof CommandFailed) return `${error.stderr}`;
  return error instanceof Error ? error.message : String(error);
}

const defaultSleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
/** How long, and how often, an unmount waits for the kernel to finish releasing a loop device (untilTornDown). */
const TEARDOWN_WAIT_MS = 2000;
const TEARDOWN_POLL_MS = 10;
/** Mounts of an image through a loop device with a stale size before giving up (mountImage). */
const STALE_LOOP_ATTEMPTS = 3;

export function createHostMounts(runner: CommandRunner, logger: Logger, options: HostMountsOptions = {}): HostMounts {
  const busyAttempts = options.busyAttempts ?? 10;
  const firstDelay = options.busyDelayMs ?? 100;
  const mountInfoPath = options.mountInfoPath ?? '/proc/self/mountinfo';
  const sysBlock = options.sysBlockDir ?? '/sys/block';
  const sleep = options.sleep ?? defaultSleep;

  /** mountinfo shows canonical paths: resolve symlinks in the part of the path that exists. */
  async function canonical(path: string): Promise<string> {
    const absolute = resolve(path);
    try {
      return await realpath(absolute);
    } catch {
      return absolute;
    }
  }

  async function readMounts(): Promise<MountEntry[]> {
    return parseMountInfo(await readFile(mountInfoPath, 'utf8'));
  }

  async function loopBackingFile(device: string): Promise<string | null> {
    const name = basename(device);
    if (!/^loop\d+$/.test(name)) return null;
    const text = await readFile(`${sysBlock}/${name}/loop/backing_file`, 'utf8').catch(() => null);
    return text === null ? null : text.trim();
  }

  /** `pid 123 (sleep 300)` for each pid, read from /proc, capped for an error message. */
  async function describePids(pids: string[]): Promise<string> {
    const described = await Promise.all(
      pids.slice(0, 20).map(async (pid) => {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        return `pid ${pid} (${cmdline.split('\0').filter(Boolean).join(' ').slice(0, 200) || '?'})`;
      }),
    );
    return described.join(', ') + (pids.length > 20 ? `, and ${pids.length - 20} more` : '');
  }

  /**
   * Processes of this mount namespace whose cwd, root, open files or mapped files are at or under `target`:
   * read from /proc (cwd, root and fd links, maps).
   */
  async function processesUsingPath(target: string): Promise<string[]> {
    const found: string[] = [];
    for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
      // Processes come and go while we look: a link or file that cannot be read is skipped.
      const link = (name: string) => readlink(`/proc/${pid}/${name}`).catch(() => '');
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      const paths = [await link('cwd'), await link('root'), ...(await Promise.all(fds.map((fd) => link(`fd/${fd}`))))];
      const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
      for (const line of maps.split('\n')) paths.push(line.slice(line.indexOf('/')));
      if (paths.some((path) => path.startsWith('/') && isAtOrUnder(path.replace(/ \(deleted\)$/, ''), target))) found.push(pid);
    }
    return found;
  }

  /**
   * What holds a busy mount, for the error message. A mount of a whole filesystem (a disk): fuser by device
   * (pids on stdout), which also finds a container's processes holding it through their own mounts, else
   * lsof, else a hint. A bind mount of a subdir: the processes using paths under it, since fuser -m would name
   * every user of the filesystem below (every process on the host's root disk).
   */
  async function holdersOf(target: string, mount: MountEntry): Promise<string> {
    if (mount.root !== '/') {
      const pids = await processesUsingPath(target);
      return pids.length > 0 ? await describePids(pids) : 'no process found (a mount in another namespace, such as a container, may hold it)';
    }
    const fuser = await runner.run('fuser', ['-m', target], { timeoutMs: 10_000 }).catch((error: unknown) => error);
    // fuser writes the pids to stdout and exits 1 when it finds none.
    const fuserOut = fuser instanceof CommandFailed ? '' : ((fuser as { stdout?: string }).stdout ?? '');
    const pids = [...fuserOut.matchAll(/(\d+)/g)].map((match) => match[1]!);
    if (pids.length > 0) return await describePids(pids);
    const lsof = await runner.run('lsof', ['-w', '-Fpc', '+f', '--', target], { timeoutMs: 10_000 }).catch(() => null);
    const lsofPids = [...(lsof?.stdout ?? '').matchAll(/^p(\d+)$/gm)].map((match) => match[1]!);
    if (lsofPids.length > 0) return await describePids(lsofPids);
    return 'no process found (a submount, or a mount in another namespace such as a container, may hold it)';
  }

  /** Whether the kernel frees this loop device by itself on last close (`mount -o loop` sets it). */
  async function isAutoclear(device: string): Promise<boolean> {
    const name = basename(device);
    const text = await readFile(`${sysBlock}/${name}/loop/autoclear`, 'utf8').catch(() => '1');
    return text.trim() === '1';
  }

  /**
   * A loop device set up without autoclear (by hand, `losetup`) stays bound after its last unmount: detach
   * it. Autoclear devices are left to the kernel: touching them by number after the unmount could hit a
   * device another process has just been given for its own image.
   */
  async function releaseLoop(device: string, backingFile: string | null, autoclear: boolean): Promise<void> {
    if (backingFile === null || autoclear) return;
    const mounts = await readMounts();
    if (mounts.some((entry) => entry.source === device)) return;
    if ((await loopBackingFile(device)) !== backingFile) return;
    await runner.run('losetup', ['-d', device]).catch((error: unknown) => {
      logger.debug('losetup -d failed (already released?)', { device, error: failureText(error) });
    });
  }

  /**
   * Unmounts the top mount at `target` with bounded retries while busy. Resolves false when umount says
   * nothing is mounted there: gone already, or hidden under a later mount over a parent dir.
   */
  async function unmountTop(target: string, top: MountEntry): Promise<boolean> {
    const backingFile = await loopBackingFile(top.source);
    const autoclear = backingFile !== null && (await isAutoclear(top.source));
    let delay = firstDelay;
    let unmounted = true;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await runner.run('umount', [target]);
        break;
      } catch (error) {
        const text = failureText(error);
        if (/not mounted|no mount point specified/i.test(text)) {
          unmounted = false;
          break;
        }
        if (!/busy/i.test(text)) throw error;
        if (attempt >= busyAttempts) {
          throw new CloudError(`'${target}' is still busy after ${attempt} unmount attempts; held by: ${await holdersOf(target, top)}`, {
            okToRetry: true,
          });
        }
        logger.info('Mount busy, retrying umount', { target, attempt, delayMs: delay });
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
    await releaseLoop(top.source, backingFile, autoclear);
    if (backingFile !== null) await untilTornDown(top.source);
    return unmounted;
  }

  /**
   * The kernel takes a loop device down in steps after its last unmount (or `losetup -d`): its backing file
   * goes from sysfs first, its size last. A `mount -o loop` of the same image in between can be given the
   * half-released device with its old size (a disk grown by resize_disk, then attached, showed its old size:
   * seen under load). Waits, at most TEARDOWN_WAIT_MS, while `device` has no backing file but still a size;
   * a device still bound (held elsewhere, e.g. by a container's mount) or already reused is not waited for.
   */
  async function untilTornDown(device: string): Promise<void> {
    for (let waited = 0; waited < TEARDOWN_WAIT_MS; waited += TEARDOWN_POLL_MS) {
      if ((await loopBackingFile(device)) !== null) return;
      if (((await loopSizeBytes(device)) ?? 0) === 0) return; // unreadable: the device is gone
      await sleep(TEARDOWN_POLL_MS);
    }
    logger.warn('Loop device still has a size after its release', { device, waitedMs: TEARDOWN_WAIT_MS });
  }

  /**
   * The loop device now mounted at `target` when its size is not the image's: the kernel handed
   * `mount -o loop` a device it was still releasing, with the old size and the old filesystem cached
   * (a disk grown by resize_disk, then attached, showed its old size under load; docs/host-hardening.md).
   * Undefined when the sizes agree or nothing loop-backed is mounted there.
   */
  async function staleLoopSize(image: string, target: string): Promise<{ device: string; deviceBytes: number; imageBytes: number } | undefined> {
    const device = (await mountsAt(target)).at(-1)?.source;
    if (device === undefined || !/^loop\d+$/.test(basename(device))) return undefined;
    const deviceBytes = await loopSizeBytes(device);
    const imageBytes = (await stat(image)).size;
    // An unreadable size is not evidence of anything.
    if (deviceBytes === undefined || deviceBytes === imageBytes) return undefined;
    return { device, deviceBytes, imageBytes };
  }

  /** A block device's size in bytes from sysfs (which counts 512-byte sectors); undefined when unreadable. */
  async function loopSizeBytes(device: string): Promise<number | undefined> {
    const sectors = (await readFile(`${sysBlock}/${basename(device)}/size`, 'utf8').catch(() => '')).trim();
    return /^\d+$/.test(sectors) ? Number(sectors) * 512 : undefined;
  }

  async function mountsAt(target: string): Promise<MountEntry[]> {
    const path = await canonical(target);
    return (await readMounts()).filter((entry) => entry.target === path);
  }

  async function unmount(target: string): Promise<void> {
    await withContext(`Unmounting '${target}'`, async () => {
      const path = await canonical(target);
      // Stacked mounts come off one at a time; a bound on the loop guards against a mount that keeps coming back.
      for (let round = 0; round < 64; round += 1) {
        const stack = (await readMounts()).filter((entry) => entry.target === path);
        const top = stack[stack.length - 1];
        if (top === undefined) return;
        if (!(await unmountTop(path, top)) && (await readMounts()).some((entry) => entry.mountId === top.mountId)) {
          throw new CloudError(`'${path}' is mounted but umount cannot reach it: a mount over a parent dir hides it`);
        }
      }
      throw new CloudError(`'${path}' is still mounted after 64 unmounts`);
    });
  }

  async function loopDeviceMountsElsewhere(device: string): Promise<{ pid: number; target: string }[]> {
    const number = await loopDeviceNumber(device);
    if (number === undefined) return [];
    const seen = new Set([await readlink('/proc/self/ns/mnt')]);
    const found: { pid: number; target: string }[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      // One process per namespace is enough; processes come and go while we look, so errors mean "skip".
      const namespace = await readlink(`/proc/${entry}/ns/mnt`).catch(() => undefined);
      if (namespace === undefined || seen.has(namespace)) continue;
      seen.add(namespace);
      const text = await readFile(`/proc/${entry}/mountinfo`, 'utf8').catch(() => '');
      for (const mount of parseMountInfo(text)) {
        if (mount.device === number) found.push({ pid: Number(entry), target: mount.target });
      }
    }
    return found;
  }

  return {
    async bindOntoItself(dir, { unbindableFirst = false }) {
      await withContext(`Bind-mounting '${dir}' onto itself`, async () => {
        if ((await mountsAt(dir)).length === 0) await runner.run('mount', ['--bind', dir, dir]);
        if (unbindableFirst) await runner.run('mount', ['--make-unbindable', dir]);
        await runner.run('mount', ['--make-shared', dir]);
      });
    },

    async unmountRecursive(...dirs) {
      await withContext(`Unmounting everything under '${dirs.join("', '")}'`, async () => {
        const roots = await Promise.all(dirs.map(canonical));
        let batchTried = false;
        // Mounts umount said were not mounted while mountinfo lists them: hidden under a later mount over a
        // parent dir (a tmpfs over /var/vcap/data/sys after one over .../sys/run). Passed over until some other
        // mount comes off, which may uncover them.
        const hidden = new Set<number>();
        for (let round = 0; round < 1024; round += 1) {
          const mounts = (await readMounts()).map((entry, index) => ({ entry, index }));
          const under = mounts.filter(({ entry }) => roots.some((root) => isAtOrUnder(entry.target, root)));
          if (under.length === 0) return;
          // Deepest first; at equal depth the later (upper) mount first.
          under.sort((a, b) => depth(b.entry.target) - depth(a.entry.target) || b.index - a.index);
          if (!batchTried) {
            batchTried = true;
            const loopBacked = await Promise.all(under.map(({ entry }) => loopBackingFile(entry.source)));
            if (loopBacked.every((file) => file === null)) {
              // umount takes its targets in order; a failure (busy, ...) leaves the rest to the loop below.
              const failed = await runner
                .run(
                  'umount',
                  under.map(({ entry }) => entry.target),
                )
                .then(
                  () => undefined,
                  (error: unknown) => failureText(error),
                );
              if (failed !== undefined) logger.debug('One umount for all mounts failed; one at a time', { dirs, error: failed });
              continue;
            }
          }
          const first = under.find(({ entry }) => !hidden.has(entry.mountId));
          if (first === undefined) {
            throw new CloudError(`umount cannot reach what is mounted at ${under.map(({ entry }) => `'${entry.target}'`).join(', ')}`);
          }
          if (await unmountTop(first.entry.target, first.entry)) hidden.clear();
          else hidden.add(first.entry.mountId);
        }
        throw new CloudError(`mounts under '${roots.join("', '")}' keep reappearing`);
      });
    },

    async mountsUnder(dir) {
      const root = await canonical(dir);
      return (await readMounts()).filter((entry) => isAtOrUnder(entry.target, root)).map(({ target, source }) => ({ target, source }));
    },

    async mountImage(image, target) {
      await withContext(`Loop-mounting '${image}' at '${target}'`, async () => {
        for (let attempt = 1; ; attempt += 1) {
          await runner.run('mount', ['--no-canonicalize', '-o', 'loop', image, target]);
          const stale = await staleLoopSize(image, target);
          if (stale === undefined) return;
          await unmount(target);
          if (attempt >= STALE_LOOP_ATTEMPTS) {
            throw new CloudError(
              `the kernel gave ${stale.device} with ${stale.deviceBytes} bytes for a ${stale.imageBytes}-byte image ${attempt} times (a loop device still being released)`,
              { okToRetry: true },
            );
          }
          logger.warn('Loop device came with a stale size; mounting again', { image, ...stale, attempt });
        }
      });
    },

    unmount,
    mountsAt,

    async loopDevicesFor(image) {
      const wanted = await stat(image).catch(() => undefined);
      if (wanted === undefined) return [];
      const path = await canonical(image);
      const names = (await readdir(sysBlock).catch(() => [] as string[])).filter((name) => /^loop\d+$/.test(name));
      const matches = await Promise.all(
        names.map(async (name) => {
          const backing = await loopBackingFile(`/dev/${name}`);
          if (backing === null) return false;
          if (backing === path) return true;
          // The kernel's name for the file; a deleted one ends in ' (deleted)' and stats as missing.
          const found = await stat(backing).catch(() => undefined);
          return found !== undefined && found.dev === wanted.dev && found.ino === wanted.ino;
        }),
      );
      return names
        .filter((_name, index) => matches[index])
        .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
        .map((name) => `/dev/${name}`);
    },

    loopBackingFile,
    loopDeviceMountsElsewhere,
  };
}
