import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A throwaway root filesystem for running the job's shell scripts at their real absolute paths
 * (/var/vcap/..., /sbin/init, /etc/sudoers.d) without touching the host: the host's /usr (and
 * /etc/alternatives, for iptables) are bind-mounted read-only inside a private mount namespace, so every
 * mount disappears with the process, and `net: true` adds a fresh network namespace for ip/iptables.
 * Needs root, unshare and chroot (util-linux, coreutils).
 */
export class ChrootSandbox {
  private constructor(readonly root: string) {}

  /** `sbin: 'host'` links /sbin to the host's /usr/sbin; `'own'` leaves an empty /sbin for fakes. */
  static async create(options: { sbin: 'host' | 'own' }): Promise<ChrootSandbox> {
    const root = await mkdtemp(join(tmpdir(), 'garden-cpi-chroot-'));
    await chmod(root, 0o755); // the sandbox's "/" must be traversable for non-root users
    const sandbox = new ChrootSandbox(root);
    for (const dir of ['usr', 'etc/alternatives', 'tmp', 'run', 'dev', 'var/vcap']) {
      await mkdir(join(root, dir), { recursive: true });
    }
    await symlink('usr/bin', join(root, 'bin'));
    await symlink('usr/lib', join(root, 'lib'));
    await symlink('usr/lib64', join(root, 'lib64'));
    if (options.sbin === 'host') await symlink('usr/sbin', join(root, 'sbin'));
    else await mkdir(join(root, 'sbin'));
    await sandbox.write('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nvcap:x:1000:1000::/home/vcap:/bin/bash\n');
    await sandbox.write('etc/group', 'root:x:0:\nvcap:x:1000:\n');
    return sandbox;
  }

  async write(path: string, content: string, mode = 0o644): Promise<string> {
    const full = join(this.root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
    await chmod(full, mode);
    return full;
  }

  path(path: string): string {
    return join(this.root, path);
  }

  /** Runs argv inside the sandbox root with exactly `env` (as root, or as `user` = 'uid:gid'). */
  run(argv: string[], options: { env?: Record<string, string>; net?: boolean; user?: string; input?: string } = {}): SpawnSyncReturns<string> {
    const setup = [
      'set -e',
      'root="$1"; shift',
      'for dir in usr etc/alternatives; do',
      '  mount --bind "/$dir" "$root/$dir"',
      '  mount -o remount,bind,ro "$root/$dir"',
      'done',
      'user="${SANDBOX_USER:-}" inner_path="$SANDBOX_PATH"; unset SANDBOX_USER SANDBOX_PATH',
      'if [ -n "$user" ]; then set -- --userspec="$user" "$root" /usr/bin/env PATH="$inner_path" "$@"',
      'else set -- "$root" /usr/bin/env PATH="$inner_path" "$@"; fi',
      'exec chroot "$@"',
    ].join('\n');
    const unshare = ['--mount', '--propagation', 'private', ...(options.net ? ['--net'] : [])];
    const result = spawnSync('unshare', [...unshare, '--', '/bin/sh', '-c', setup, 'sandbox', this.root, ...argv], {
      encoding: 'utf8',
      input: options.input,
      // The setup runs with a full PATH; the command gets `env` (PATH included) as given.
      env: {
        ...options.env,
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        SANDBOX_PATH: options.env?.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ...(options.user ? { SANDBOX_USER: options.user } : {}),
      },
    });
    if (result.error) throw result.error;
    return result;
  }

  async destroy(): Promise<void> {
    // The bind mounts live only in each run's namespace; never recurse into a /usr that looks mounted.
    for (const dir of ['usr', 'etc/alternatives']) {
      if ((await readdir(join(this.root, dir))).length > 0) throw new Error(`${this.root}/${dir} is not empty`);
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
