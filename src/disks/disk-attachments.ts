import { mkdir, realpath, rmdir } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import type { HostMounts } from '../host/mounts';
import type { Logger } from '../log/logger';
import { isCid } from '../ids/cid';
import { withContext } from '../errors/cpi-errors';
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
  /** Unmounts the disk from the VM's host path (busy: bounded retries, then an error naming the holders). */
  unmount(vmCid: string, diskCid: string): Promise<boolean>;
  /** The disks mounted directly under the VM's persistent dir. */
  disksOf(vmCid: string): Promise<string[]>;
  /**
   * Mounts of the disk left in other mount namespaces while the host has none (`pid 12 at '/var/vcap/store'`):
   * what keeps a disk in use inside a container after its host mount is gone (the agent never unmounted it).
   */
  strayMounts(diskCid: string): Promise<string[]>;
}

async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

export function createDiskAttachments(deps: { config: DisksConfig; mounts: HostMounts; logger: Logger }): DiskAttachments {
  const { config, mounts } = deps;

  return {
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
        await mkdir(target, { recursive: true });
        try {
          await mounts.mountImage(diskPaths(config, diskCid).image, target);
        } catch (error) {
          await rmdir(target).catch(() => undefined);
          throw error;
        }
      });
    },

    async unmount(vmCid, diskCid) {
      const target = diskHostMountPath(config, vmCid, diskCid);
      const mounted = (await mounts.mountsAt(target)).length > 0;
      if (mounted) await mounts.unmount(target);
      // Upstream leaves the empty dir for delete_vm; removing it keeps /warden-cpi-dev tidy. Busy or gone: fine.
      await rmdir(target).catch(() => undefined);
      return mounted;
    },

    async strayMounts(diskCid) {
      const devices = await mounts.loopDevicesFor(diskPaths(config, diskCid).image);
      if (devices.length === 0) return [];
      const hostMounts = await mounts.mountsUnder('/');
      if (hostMounts.some((entry) => devices.includes(entry.source))) return [];
      const users = await Promise.all(devices.map((device) => mounts.loopDeviceMountsElsewhere(device)));
      return users.flat().map(({ pid, target }) => `pid ${pid} at '${target}'`);
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
}
