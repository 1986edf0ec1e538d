import { mkdir, symlink } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { CommandRunner } from '../host/command-runner';
import { ensurePrivateDir } from '../host/private-dirs';
import { withContext } from '../errors/cpi-errors';
import { vmHostPaths, type VmDirsConfig } from './vm-paths';

/**
 * Per-VM copy-on-write root filesystems for expanded stemcells (docs/vm-rootfs.md).
 *
 * Garden hands a plain rootfs path to its image plugin, and neither grootfs (tar files only) nor a gdn
 * without an image plugin accepts a directory; `raw://<path>` is used as the container's root as it is,
 * with or without a plugin (docs/garden-wire.md). So the CPI makes each VM its own overlay: the stemcell
 * dir read-only below, the VM's writes in its own upper dir, and hands Garden `raw://` + the overlay.
 */
export interface VmRootfs {
  /**
   * Mounts `<state_dir>/rootfs/<vm>/root` as an overlay of `stemcellDir` and returns the image URI for
   * Garden (`raw:///…/root`). Raises CloudError naming the step on failure; whatever it made before
   * failing is removed by VmTeardown.removeRootfs (create_vm's rollback, delete_vm).
   */
  create(vmCid: string, stemcellDir: string): Promise<string>;
}

export interface VmRootfsDeps {
  dirs: VmDirsConfig;
  runner: Pick<CommandRunner, 'run'>;
  /** The running kernel's release, as `uname -r` prints it (default: os.release()). */
  kernelRelease?: string;
}

/** overlayfs takes `volatile` from Linux 5.10 (its documentation, "Volatile mount"); an unreadable release: no. */
export function volatileOverlaySupported(kernelRelease: string): boolean {
  const match = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 5 || (major === 5 && minor >= 10);
}

/**
 * `raw://` + the path, each segment percent-encoded: Garden parses the URI with Go's url.Parse and uses
 * its decoded path, so a '%', '?' or '#' in a configured dir must not be read as URI syntax.
 */
export function rawRootfsUri(path: string): string {
  return `raw://${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** The overlay's dirs, named relative to the VM's rootfs dir (the mount's cwd: see create). */
const OVERLAY_OPTIONS = 'lowerdir=lower,upperdir=upper,workdir=work';

export function createVmRootfs(deps: VmRootfsDeps): VmRootfs {
  return {
    async create(vmCid, stemcellDir) {
      const dir = vmHostPaths(deps.dirs, vmCid).rootfsDir;
      const root = join(dir, 'root');
      await withContext(`Making the VM root filesystem in '${dir}'`, async () => {
        await ensurePrivateDir(join(deps.dirs.state_dir, 'rootfs'));
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await Promise.all(['upper', 'work', 'root'].map((name) => mkdir(join(dir, name), { mode: 0o755 })));
        // overlayfs reads its dirs from one comma-separated option string, where ',' ':' and '\' in a
        // path would need escaping; relative names resolved against `dir` (the mount's cwd) need none.
        await symlink(stemcellDir, join(dir, 'lower'));
        // volatile: unmounting a plain overlay syncs the whole filesystem below its upper dir (the host's
        // store disk), so delete_vm would wait for every dirty page on it, a freshly unpacked stemcell
        // included (~300 ms measured on real gdn; docs/vm-rootfs.md). A VM's root never outlives a host
        // crash (its container is gone), so nothing is lost. Chosen by the kernel's release rather than by
        // retrying a failed mount, so that a mount failing for another reason reports its own error.
        const options = volatileOverlaySupported(deps.kernelRelease ?? release()) ? `${OVERLAY_OPTIONS},volatile` : OVERLAY_OPTIONS;
        await deps.runner.run('mount', ['-t', 'overlay', 'overlay', '-o', options, 'root'], { cwd: dir, timeoutMs: 60_000 });
      });
      return rawRootfsUri(root);
    },
  };
}
