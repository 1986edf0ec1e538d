import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, realpath, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { CommandRunner } from '../host/command-runner';
import { type HostMounts, loopDeviceNumber } from '../host/mounts';
import type { Logger } from '../log/logger';
import { isCid } from '../ids/cid';
import { CloudError, withContext } from '../errors/cpi-errors';
import { diskHostMountPath, diskPaths, vmPersistentDir, type DisksConfig } from './disk-paths';

/** One place a disk's image is mounted on the host; `vmCid` is set when it is `<persistent dir>/<vm>/<disk>`. */
export interface DiskMount {
  target: string;
  vmCid: string | null;
}

/**
 * Disk attachments as the kernel sees them: a disk is attached to a VM exactly when its image is
 * loop-mounted at `<host_persistent_bind_mounts_dir>/<vm>/<disk>`. No records to drift out of date,
 * and disks attached by the upstream CPI (same layout) are recognised.
 */
export interface DiskAttachments {
  /** Every host mount of this disk's image (through any loop device backed by it). */
  mountsOf(diskCid: string): Promise<DiskMount[]>;
  /** Loop-mounts the image at the VM's host path; mount propagation shows it in the container. */
  mount(vmCid: string, diskCid: string): Promise<void>;
  /**
   * Unmounts the disk from the VM's host path (busy: bounded retries, then an error naming the holders).
   * Only a mount whose mountinfo target is exactly that path and whose source is a loop device of this
   * disk's image counts: whatever the VM put at that path (a symlink to a host dir) is never followed.
   * Answers whether such a mount was there; afterwards the disk's loop devices must be released.
   */
  unmount(vmCid: string, diskCid: string): Promise<boolean>;
  /**
   * Thaws every filesystem of this disk's loop devices left frozen (a snapshot_disk killed mid-copy, or
   * interrupted by delete_vm): found by device, mounted or not. A frozen filesystem outlives its unmount
   * and keeps the loop device bound; such a device is mounted again on a private dir, thawed and unmounted.
   */
  thawFrozen(diskCid: string): Promise<void>;
  /**
   * Fails (ok_to_retry) unless no loop device is bound to the image any more, thawing leftovers first.
   * Devices still mounted in a container's namespace are left to strayMounts.
   */
  assertReleased(diskCid: string): Promise<void>;
  /** The disks mounted directly under the VM's persistent dir. */
  disksOf(vmCid: string): Promise<string[]>;
  /**
   * Mounts of the disk left in other mount namespaces while the host has none (`pid 12 at '/var/vcap/store'`):
   * what keeps a disk in use inside a container after its host mount is gone (the agent never unmounted it).
   */
  strayMounts(diskCid: string): Promise<string[]>;
  /** `major:minor` of every loop device bound to the disk's image (what mountinfo names its mounts by). */
  deviceNumbers(diskCid: string): Promise<string[]>;
}

async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/**
 * Makes `target` (a name inside a dir the VM can write) a real dir of its own and opens it without
 * following a symlink: whatever the VM left there that is not a dir (a symlink to a host dir, a file) is
 * removed, never followed. The caller mounts onto `/proc/<pid>/fd/<n>`, so the mount lands on exactly the
 * dir opened here even if the name is swapped afterwards.
 */
async function openOwnDir(target: string): Promise<Awaited<ReturnType<typeof open>>> {
  const entry = await lstat(target).catch(() => undefined);
  if (entry !== undefined && !entry.isDirectory()) await unlink(target);
  await mkdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  try {
    return await open(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new CloudError(`'${target}' keeps being replaced by something that is not a directory`);
    throw error;
  }
}

const RELEASE_WAIT_MS = 2000;

export function createDiskAttachments(deps: {
  config: DisksConfig;
  mounts: HostMounts;
  runner: Pick<CommandRunner, 'run'>;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
}): DiskAttachments {
  const { config, mounts, runner } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)));

  async function devicesOf(diskCid: string): Promise<string[]> {
    return mounts.loopDevicesFor(diskPaths(config, diskCid).image);
  }

  /** `fsfreeze --unfreeze`; not frozen (EINVAL) is the normal case and says nothing. */
  async function thawAt(target: string): Promise<boolean> {
    return runner.run('fsfreeze', ['--unfreeze', target]).then(
      () => true,
      () => false,
    );
  }

  /** A bound device mounted nowhere (its filesystem frozen at unmount): mount it privately, thaw, unmount. */
  async function thawUnmountedDevice(diskCid: string, device: string): Promise<void> {
    const parent = diskPaths(config, diskCid).stateDir;
    await mkdir(parent, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(parent, 'thaw-'));
    try {
      await runner.run('mount', ['--no-canonicalize', device, dir], { timeoutMs: 30_000 });
      try {
        if (await thawAt(dir)) deps.logger.warn('Thawed a frozen filesystem left on an unmounted loop device', { disk: diskCid, device });
      } finally {
        await mounts.unmount(dir);
      }
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  const attachments: DiskAttachments = {
    async thawFrozen(diskCid) {
      const devices = await devicesOf(diskCid);
      if (devices.length === 0) return;
      const hostMounts = await mounts.mountsUnder('/');
      for (const device of devices) {
        const targets = hostMounts.filter((entry) => entry.source === device).map((entry) => entry.target);
        for (const target of targets) {
          if (await thawAt(target)) deps.logger.warn('Thawed a filesystem left frozen by an interrupted snapshot', { disk: diskCid, target });
        }
        if (targets.length > 0) continue;
        // Mounted in a container only (a stray mount): that is strayMounts' case, not a leftover freeze.
        if ((await mounts.loopDeviceMountsElsewhere(device)).length > 0) continue;
        if ((await mounts.loopBackingFile(device)) === null) continue;
        await thawUnmountedDevice(diskCid, device);
      }
    },

    async assertReleased(diskCid) {
      const image = diskPaths(config, diskCid).image;
      for (let waited = 0; ; waited += 100) {
        const bound = await devicesOf(diskCid);
        // A device still mounted inside a container (the agent's bind onto /var/vcap/store) is in use, not
        // left over: strayMounts reports it to the caller.
        const inContainers = await Promise.all(bound.map(async (device) => (await mounts.loopDeviceMountsElsewhere(device)).length > 0));
        const devices = bound.filter((_device, index) => !inContainers[index]);
        if (devices.length === 0) return;
        const hostMounts = await mounts.mountsUnder('/');
        if (devices.some((device) => hostMounts.some((entry) => entry.source === device))) {
          throw new CloudError(`Disk '${diskCid}' is still mounted on the host`, { okToRetry: true });
        }
        if (waited === 500) await attachments.thawFrozen(diskCid);
        if (waited >= RELEASE_WAIT_MS) {
          throw new CloudError(`the loop device ${devices.join(', ')} of '${image}' is still bound after its unmount`, { okToRetry: true });
        }
        // The kernel frees an autoclear loop device shortly after the last unmount.
        await sleep(100);
      }
    },

    async mountsOf(diskCid) {
      const devices = new Set(await mounts.loopDevicesFor(diskPaths(config, diskCid).image));
      if (devices.size === 0) return [];
      const root = await canonical(config.host_persistent_bind_mounts_dir);
      return (await mounts.mountsUnder('/'))
        .filter((entry) => devices.has(entry.source))
        .map(({ target }) => {
          const parts = relative(root, target).split(sep);
          const vmCid = parts.length === 2 && parts[1] === diskCid && !parts[0]!.startsWith('..') ? parts[0]! : null;
          return { target, vmCid };
        });
    },

    async mount(vmCid, diskCid) {
      const target = diskHostMountPath(config, vmCid, diskCid);
      await withContext(`Mounting disk '${diskCid}' at '${target}'`, async () => {
        // The VM writes into its persistent dir (its /warden-cpi-dev): only the last name is the VM's.
        await mkdir(vmPersistentDir(config, vmCid), { recursive: true });
        const dir = await openOwnDir(target);
        try {
          await mounts.mountImage(diskPaths(config, diskCid).image, `/proc/${process.pid}/fd/${dir.fd}`);
        } catch (error) {
          await dir.close();
          await rmdir(target).catch(() => undefined);
          throw error;
        }
        await dir.close();
      });
    },

    async unmount(vmCid, diskCid) {
      const target = diskHostMountPath(config, vmCid, diskCid);
      const expected = join(await canonical(vmPersistentDir(config, vmCid)), diskCid);
      const devices = new Set(await devicesOf(diskCid));
      const entry = await lstat(target).catch(() => undefined);
      const ours =
        entry !== undefined &&
        entry.isDirectory() &&
        (await mounts.mountsUnder(expected)).some((mount) => mount.target === expected && devices.has(mount.source));
      if (ours) {
        await attachments.thawFrozen(diskCid);
        await mounts.unmount(expected);
      }
      // Upstream leaves the empty dir for delete_vm; removing it keeps /warden-cpi-dev tidy. Busy, gone or
      // not a dir (rmdir never follows a symlink): fine.
      await rmdir(target).catch(() => undefined);
      if (ours) await attachments.assertReleased(diskCid);
      return ours;
    },

    async strayMounts(diskCid) {
      const devices = await mounts.loopDevicesFor(diskPaths(config, diskCid).image);
      if (devices.length === 0) return [];
      const hostMounts = await mounts.mountsUnder('/');
      if (hostMounts.some((entry) => devices.includes(entry.source))) return [];
      const users = await Promise.all(devices.map((device) => mounts.loopDeviceMountsElsewhere(device)));
      return users.flat().map(({ pid, target }) => `pid ${pid} at '${target}'`);
    },

    async deviceNumbers(diskCid) {
      const numbers = await Promise.all((await devicesOf(diskCid)).map((device) => loopDeviceNumber(device)));
      return numbers.filter((number): number is string => number !== undefined);
    },

    async disksOf(vmCid) {
      const dir = await canonical(vmPersistentDir(config, vmCid));
      const found = (await mounts.mountsUnder(dir))
        .filter((entry) => dirname(entry.target) === dir && /^\/dev\/loop\d+$/.test(entry.source))
        .map((entry) => relative(dir, entry.target))
        .filter(isCid);
      return [...new Set(found)];
    },
  };
  return attachments;
}
