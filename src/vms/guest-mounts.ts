import type { GardenClient } from '../garden/garden-client';
import { CloudError } from '../errors/cpi-errors';
import type { Logger } from '../log/logger';
import { parseMountInfo } from '../host/mounts';

/** Mounts inside a VM's container, seen and changed from within it (through a Garden process). */
export interface GuestMounts {
  /**
   * Unmounts, inside the VM's container, every mount of the filesystems on `devices` (`major:minor`
   * strings, e.g. `7:5`), deepest first. Returns the mount points it unmounted (`[]`: none were there).
   * Raises CloudError (ok_to_retry) naming the mount point when one cannot be unmounted (busy).
   */
  unmountDevices(vmCid: string, devices: readonly string[]): Promise<string[]>;
}

export interface GuestMountsDeps {
  garden: Pick<GardenClient, 'exec'>;
  logger: Logger;
}

// Unmounts its arguments in order, printing each; the first failure stops it with that mount point and
// umount's complaint on stderr. Only POSIX sh and umount: every stemcell has them.
const UNMOUNT_SCRIPT =
  'for target do if ! err=$(umount -- "$target" 2>&1); then printf "%s\\n%s\\n" "$target" "$err" >&2; exit 1; fi; printf "%s\\n" "$target"; done';

/**
 * The agent's `unmount_disk` cannot unmount a bind-mounted persistent disk under Garden (it unmounts the
 * disk's mount under /warden-cpi-dev and leaves its bind at /var/vcap/store; docs/real-bosh.md), so
 * detach_disk finishes the job inside the VM, as a detached volume would vanish from a real VM. The
 * container's mountinfo is read through Garden and parsed by the host's one parser (src/host/mounts.ts);
 * a second Garden process unmounts, and only when something is mounted.
 */
export function createGuestMounts(deps: GuestMountsDeps): GuestMounts {
  return {
    async unmountDevices(vmCid, devices) {
      if (devices.length === 0) return [];
      const listing = await deps.garden.exec(vmCid, { path: '/bin/sh', args: ['-c', 'cat /proc/self/mountinfo'], user: 'root' });
      if (listing.exitStatus !== 0) {
        throw new CloudError(
          `Reading the mounts inside VM '${vmCid}' failed: ${listing.stderr.trim().slice(0, 500) || `exit status ${String(listing.exitStatus)}`}`,
          {
            okToRetry: true,
          },
        );
      }
      const wanted = new Set(devices);
      // Deepest first: a mount under another one goes before it.
      const targets = [
        ...new Set(
          parseMountInfo(listing.stdout)
            .filter((entry) => wanted.has(entry.device))
            .map((entry) => entry.target),
        ),
      ].sort((a, b) => b.length - a.length);
      if (targets.length === 0) return [];
      const result = await deps.garden.exec(vmCid, { path: '/bin/sh', args: ['-c', UNMOUNT_SCRIPT, 'unmount-devices', ...targets], user: 'root' });
      const unmounted = result.stdout.split('\n').filter((line) => line !== '');
      if (result.exitStatus !== 0) {
        const [target, ...reason] = result.stderr.trim().split('\n');
        throw new CloudError(
          `Unmounting '${target ?? '?'}' inside VM '${vmCid}' failed: ${reason.join(' ').slice(0, 500) || `exit status ${String(result.exitStatus)}`}`,
          { okToRetry: true },
        );
      }
      if (unmounted.length > 0) deps.logger.info('Unmounted a detached disk inside its VM', { vm: vmCid, targets: unmounted });
      return unmounted;
    },
  };
}
