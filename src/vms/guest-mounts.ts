import type { GardenClient } from '../garden/garden-client';
import { CloudError } from '../errors/cpi-errors';
import type { Logger } from '../log/logger';

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

// Reads the container's own mountinfo (proc(5): field 3 is major:minor, field 5 the mount point with
// space, tab, newline and backslash written as \ooo), prints the matching mount points longest first,
// then unmounts each; the first failure stops it with that mount point on stderr. Only POSIX sh, awk,
// sort and umount: every stemcell has them.
const UNMOUNT_SCRIPT = String.raw`
set -u
targets=$(awk -v want=" $1 " '
  function decode(s,   out, i, c) {
    out = ""
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "\\" && substr(s, i + 1, 3) ~ /^[0-7][0-7][0-7]$/) {
        out = out sprintf("%c", (substr(s, i + 1, 1) * 64) + (substr(s, i + 2, 1) * 8) + substr(s, i + 3, 1))
        i += 3
      } else out = out c
    }
    return out
  }
  index(want, " " $3 " ") { t = decode($5); print length(t) "\t" t }
' /proc/self/mountinfo | sort -rn | cut -f2-)
[ -z "$targets" ] && exit 0
printf '%s\n' "$targets" | while IFS= read -r target; do
  if ! err=$(umount "$target" 2>&1); then printf '%s\n%s\n' "$target" "$err" >&2; exit 1; fi
  printf '%s\n' "$target"
done
`;

/**
 * The agent's `unmount_disk` cannot unmount a bind-mounted persistent disk under Garden (it unmounts the
 * disk's mount under /warden-cpi-dev and leaves its bind at /var/vcap/store; docs/real-bosh.md), so
 * detach_disk finishes the job inside the VM, as a detached volume would vanish from a real VM.
 */
export function createGuestMounts(deps: GuestMountsDeps): GuestMounts {
  return {
    async unmountDevices(vmCid, devices) {
      if (devices.length === 0) return [];
      const result = await deps.garden.exec(vmCid, {
        path: '/bin/sh',
        args: ['-c', UNMOUNT_SCRIPT, 'unmount-devices', devices.join(' ')],
        user: 'root',
      });
      const unmounted = result.stdout.split('\n').filter((line) => line !== '');
      if (result.exitStatus !== 0) {
        const [target, ...reason] = result.stderr.trim().split('\n');
        throw new CloudError(
          `Unmounting '${target ?? '?'}' inside VM '${vmCid}' failed: ${reason.join(' ').slice(0, 500) || `exit status ${String(result.exitStatus)}`}`,
          {
            okToRetry: true,
          },
        );
      }
      if (unmounted.length > 0) deps.logger.info('Unmounted a detached disk inside its VM', { vm: vmCid, targets: unmounted });
      return unmounted;
    },
  };
}
