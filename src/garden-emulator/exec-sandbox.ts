import { spawn } from 'node:child_process';
import { open, readdir, readlink } from 'node:fs/promises';
import type { Logger } from '../log/logger';

/** A bind mount to apply inside the container's mount namespace. */
export interface SandboxBindMount {
  srcPath: string;
  dstPath: string;
  readOnly: boolean;
}

/** A real container for exec mode: mount and UTS namespaces holding the rootfs view, kept alive by an init process. */
export interface ExecSandbox {
  /** The process that holds the namespace open (host `sleep infinity`, outside the chroot). */
  readonly initPid: number;
  /** The rootfs view as mounted inside the namespace. */
  readonly viewDir: string;
  /** The container's root seen from the host (`/proc/<init>/root<view>`), for file streaming. */
  readonly hostRootPath: string;
  /** Signals every process in the namespace except init (Garden's Stop). */
  signalProcesses(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Kills everything in the namespace and waits until it is gone (with it, every mount inside). */
  destroy(): Promise<void>;
}

// Runs in the new namespaces: set the hostname (gdn: the handle), overlay the image with the per-container
// upper dir (or, for a raw:// root, use the dir itself, writes and all, as gdn does), give it /proc and the
// host's /dev (a privileged container's view), apply the bind mounts (non-recursive, as runc's "bind"),
// then keep the namespaces alive. Arguments come in as positional parameters so no path is ever
// interpolated into the script.
const SETUP_SCRIPT = `set -e
lower=$1 upper=$2 work=$3 view=$4 host=$5
shift 5
printf '%s' "$host" > /proc/sys/kernel/hostname
if [ -n "$upper" ]; then
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$view"
else
  mount --bind "$lower" "$view"
fi
mkdir -p "$view/proc" "$view/dev"
mount -t proc proc "$view/proc"
mount --rbind /dev "$view/dev"
while [ $# -gt 0 ]; do
  src=$1 dst=$view$2 mode=$3
  shift 3
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; [ -e "$dst" ] || : > "$dst"; fi
  mount --bind "$src" "$dst"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$dst"; fi
done
echo ready
exec sleep infinity
`;

/**
 * `unshare --mount --uts --propagation slave`: the mount namespace starts as a slave copy of the host's
 * mounts, so a mount made later under a shared host bind-mount source propagates into the container, as
 * under runc.
 */
export async function createExecSandbox(options: {
  lowerDir: string;
  /** Where the container's writes go; '' (with workDir '') uses lowerDir itself as the root. */
  upperDir: string;
  workDir: string;
  viewDir: string;
  /** The container's hostname (its own UTS namespace; at most 64 bytes, as runc). */
  hostname: string;
  bindMounts: SandboxBindMount[];
  logger: Logger;
}): Promise<ExecSandbox> {
  const args = [
    '--mount',
    '--uts',
    '--propagation',
    'slave',
    '--',
    '/bin/sh',
    '-c',
    SETUP_SCRIPT,
    'garden-emulator-init',
    options.lowerDir,
    options.upperDir,
    options.workDir,
    options.viewDir,
    options.hostname,
    ...options.bindMounts.flatMap((mount) => [mount.srcPath, mount.dstPath, mount.readOnly ? 'ro' : 'rw']),
  ];
  const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('ready\n')) resolve();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => reject(new Error(`container setup failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim()}`)));
  });
  if (pid === undefined) throw new Error('container setup failed: no pid');
  // Members are found by namespace id (`mnt:[inode]`). The kernel reuses a freed namespace's inode for new
  // namespaces (another container's, maybe another emulator's), so hold the namespace open until destroy
  // is done: while pinned, its id cannot name anything else.
  const pinned = await open(`/proc/${pid}/ns/mnt`, 'r');
  const namespace = await readlink(`/proc/${pid}/ns/mnt`).catch(async (error: unknown) => {
    await pinned.close();
    throw error;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('exit', () => resolve());
  });
  options.logger.debug('exec sandbox ready', { pid, namespace });

  const membersOf = async (): Promise<number[]> => {
    const members: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const link = await readlink(`/proc/${entry}/ns/mnt`).catch(() => undefined);
      if (link === namespace) members.push(Number(entry));
    }
    return members;
  };
  const killAll = (pids: number[], signal: NodeJS.Signals): void => {
    for (const member of pids) {
      try {
        process.kill(member, signal);
      } catch {
        // already gone
      }
    }
  };

  let destroyed: Promise<void> | undefined;
  return {
    initPid: pid,
    viewDir: options.viewDir,
    hostRootPath: `/proc/${pid}/root${options.viewDir}`,
    async signalProcesses(signal) {
      killAll(
        (await membersOf()).filter((member) => member !== pid),
        signal,
      );
    },
    destroy() {
      destroyed ??= destroyNamespace();
      return destroyed;
    },
  };

  async function destroyNamespace(): Promise<void> {
    // Processes that daemonised inside the container are not our children: find them by namespace.
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const members = await membersOf();
      if (members.length === 0) break;
      killAll(members, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await exited;
    await pinned.close();
  }
}
