import { rm } from 'node:fs/promises';
import type { HostMounts } from '../host/mounts';
import { removeTrees } from '../host/remove-tree';
import type { Locks } from '../host/file-lock';
import type { Logger } from '../log/logger';
import { CloudError, withContext } from '../errors/cpi-errors';
import type { PortForwarding } from './iptables-ports';
import { vmHostPaths, vmLockName, type VmDirsConfig } from './vm-paths';
import type { VmRecords } from './vm-records';

/** The Garden operation teardown needs: destroy, answering false when the container does not exist. */
export interface ContainerDestroyer {
  destroyIfExists(handle: string): Promise<boolean>;
}

/** Undoes a VM piece by piece (create_vm rollback) or all at once (delete_vm); every step is idempotent. */
export interface VmTeardown {
  /** Resolves true when a container was destroyed, false when there was none. */
  destroyContainer(vmCid: string): Promise<boolean>;
  removePortRules(vmCid: string): Promise<void>;
  /** Unmounts everything under the VM's host dirs, then removes them. Never follows a mount. */
  removeHostDirs(vmCid: string): Promise<void>;
  /**
   * Unmounts the VM's copy-on-write root and removes its dir (docs/vm-rootfs.md); VMs without one
   * (gunzip-mode or light stemcells, VMs made by the upstream CPI) have nothing to remove.
   */
  removeRootfs(vmCid: string): Promise<void>;
  removeState(vmCid: string): Promise<void>;
  /** All of the above under the VM's lock: container, rules, mounts and dirs, root filesystem, records. */
  deleteVm(vmCid: string): Promise<void>;
}

export interface VmTeardownDeps {
  dirs: VmDirsConfig;
  containers: ContainerDestroyer;
  ports: Pick<PortForwarding, 'removeForwarded'>;
  mounts: Pick<HostMounts, 'unmountRecursive' | 'mountsUnder'>;
  /** A VM recorded without ports skips the iptables scan; unrecorded VMs (upstream's, half-made) get it. */
  records: Pick<VmRecords, 'read'>;
  locks: Locks;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
}

const REMOVE_ATTEMPTS = 5;

export function createVmTeardown(deps: VmTeardownDeps): VmTeardown {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)));

  /**
   * Unmounts, checks that nothing is mounted any more, and only then deletes: the recursive delete can
   * never reach through a disk mount into a disk's files (the Director never attaches during delete_vm).
   * All `dirs` go in one rm, and none when none exists.
   */
  async function unmountAndRemove(dirs: readonly string[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      await deps.mounts.unmountRecursive(...dirs);
      for (const dir of dirs) {
        const left = await deps.mounts.mountsUnder(dir);
        if (left.length > 0) throw new CloudError(`Still mounted under '${dir}': ${left.map((m) => m.target).join(', ')}`);
      }
      try {
        // rm -rf: a VM's root (its upper dir) or ephemeral data can hold any number of files; constant memory.
        await removeTrees(dirs);
        return;
      } catch (error) {
        // A container's mount namespace can hold the dir busy for a moment after destroy.
        if (attempt >= REMOVE_ATTEMPTS) throw error;
        deps.logger.info('Host dir busy, retrying removal', { dirs, attempt });
        await sleep(200 * attempt);
      }
    }
  }

  const teardown: VmTeardown = {
    async destroyContainer(vmCid) {
      return withContext('Destroying container', async () => {
        const existed = await deps.containers.destroyIfExists(vmCid);
        if (!existed) deps.logger.info('Container already gone', { vm: vmCid });
        return existed;
      });
    },

    async removePortRules(vmCid) {
      await deps.ports.removeForwarded(vmCid);
    },

    async removeHostDirs(vmCid) {
      const { ephemeralDir, persistentDir } = vmHostPaths(deps.dirs, vmCid);
      await withContext(`Removing host dirs '${ephemeralDir}' and '${persistentDir}'`, () => unmountAndRemove([ephemeralDir, persistentDir]));
    },

    async removeRootfs(vmCid) {
      const { rootfsDir } = vmHostPaths(deps.dirs, vmCid);
      await withContext(`Removing the VM root filesystem '${rootfsDir}'`, () => unmountAndRemove([rootfsDir]));
    },

    async removeState(vmCid) {
      await rm(vmHostPaths(deps.dirs, vmCid).stateDir, { recursive: true, force: true });
    },

    async deleteVm(vmCid) {
      // Where the time goes, per step, for the debug log (npm run bench reads it: docs/start-up.md).
      const stepsMs: Record<string, number> = {};
      let last = performance.now();
      const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
        const result = await work();
        const now = performance.now();
        stepsMs[name] = Math.round((now - last) * 10) / 10;
        last = now;
        return result;
      };
      await deps.locks.withLock(vmLockName(vmCid), async () => {
        await step('lock', async () => undefined);
        // Clean-up goes on without a readable record: then the port rules are looked for, as for upstream VMs.
        const record = await step('record', () =>
          deps.records.read(vmCid).catch((error: unknown) => {
            deps.logger.warn('Deleting a VM whose record cannot be read', { vm: vmCid, error: String(error) });
            return undefined;
          }),
        );
        await step('destroy', () => teardown.destroyContainer(vmCid));
        if (record?.ports !== false) await step('portRules', () => teardown.removePortRules(vmCid));
        // Host dirs and root filesystem in one pass: one rm for all of them (removeHostDirs and removeRootfs
        // stay separate for create_vm's rollback, which undoes only what it made).
        const { ephemeralDir, persistentDir, rootfsDir } = vmHostPaths(deps.dirs, vmCid);
        await step('dirs', () =>
          withContext(`Removing host dirs '${ephemeralDir}', '${persistentDir}' and root filesystem '${rootfsDir}'`, () =>
            unmountAndRemove([ephemeralDir, persistentDir, rootfsDir]),
          ),
        );
        await step('state', () => teardown.removeState(vmCid));
      });
      await step('unlock', async () => undefined);
      deps.logger.debug('Deleted VM: ms per step', { vm: vmCid, ...stepsMs });
    },
  };
  return teardown;
}
