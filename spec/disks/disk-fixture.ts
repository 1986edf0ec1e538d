import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCommandRunner } from '../../src/host/command-runner';
import { createFileLocks, type Locks } from '../../src/host/file-lock';
import { createHostMounts, parseMountInfo, type HostMounts } from '../../src/host/mounts';
import { silentLogger } from '../../src/log/logger';
import type { DisksConfig } from '../../src/disks/disk-paths';
import { createDiskServices, type DiskServices } from '../../src/disks/disk-services';
import type { AgentSettingsUpdater, PersistentDiskSettings } from '../../src/disks/disk-settings';
import type { CallContext } from '../../src/actions/call-context';

/** A throwaway CPI layout under one temp dir, with real host services; `cleanup` undoes every mount. */
export interface DiskFixture {
  root: string;
  config: DisksConfig;
  mounts: HostMounts;
  services: DiskServices;
  locks: Locks;
  /** A VM as create_vm leaves it on the host: state dir, persistent dir bound onto itself, shared. */
  makeVm(vmCid: string): Promise<{ persistentDir: string }>;
  cleanup(): Promise<void>;
}

export const call: CallContext = { apiVersion: 2, requestId: 'spec', logger: silentLogger };

export async function makeDiskFixture(prefix = 'disks-spec-'): Promise<DiskFixture> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const config: DisksConfig = {
    disks_dir: join(root, 'disks'),
    host_persistent_bind_mounts_dir: join(root, 'persistent_bind_mounts_dir'),
    guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
    state_dir: join(root, 'state'),
  };
  const runner = createCommandRunner();
  const mounts = createHostMounts(runner, silentLogger, { busyAttempts: 3, busyDelayMs: 20 });
  const services = createDiskServices({ config, runner, mounts, logger: silentLogger });
  const locks = createFileLocks(join(config.state_dir, 'locks'), silentLogger);
  return {
    root,
    config,
    mounts,
    services,
    locks,
    async makeVm(vmCid) {
      const persistentDir = join(config.host_persistent_bind_mounts_dir, vmCid);
      await mkdir(persistentDir, { recursive: true });
      await mkdir(join(config.state_dir, 'vms', vmCid), { recursive: true });
      await mounts.bindOntoItself(persistentDir, { unbindableFirst: true });
      return { persistentDir };
    },
    async cleanup() {
      await mounts.unmountRecursive(root).catch(() => undefined);
      forceUnmountUnder(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Last resort that does not depend on the code under test. */
export function forceUnmountUnder(root: string): void {
  for (let i = 0; i < 50; i += 1) {
    const left = parseMountInfo(execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }))
      .map((entry) => entry.target)
      .filter((target) => target === root || target.startsWith(`${root}/`));
    if (left.length === 0) return;
    try {
      execFileSync('umount', ['-l', left[left.length - 1]!], { stdio: 'ignore' });
    } catch {
      // keep going
    }
  }
}

/** An in-memory settings store with the real store's contract: mutate in place, whole-object replace. */
export function fakeSettings(): AgentSettingsUpdater & {
  byVm: Map<string, PersistentDiskSettings>;
  failNext?: Error;
} {
  const byVm = new Map<string, PersistentDiskSettings>();
  const store = {
    byVm,
    failNext: undefined as Error | undefined,
    async update(vmCid: string, mutate: (settings: PersistentDiskSettings) => void) {
      if (store.failNext) {
        const error = store.failNext;
        store.failNext = undefined;
        throw error;
      }
      const draft = structuredClone(byVm.get(vmCid) ?? { disks: { persistent: null } });
      mutate(draft);
      byVm.set(vmCid, draft);
      return draft;
    },
  };
  return store;
}

export function makeExt4ByHand(path: string, sizeMb: number): void {
  execFileSync('truncate', ['-s', `${sizeMb}M`, path]);
  execFileSync('mkfs.ext4', ['-F', '-q', path]);
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
