import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostMounts } from '../../src/host/mounts';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import type { PortForwarding } from '../../src/vms/iptables-ports';
import { createVmTeardown } from '../../src/vms/vm-teardown';
import { spawnedDuring } from '../support/spawned-during';

describe('VmTeardown', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cpi-teardown-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function teardown(mounts: Pick<HostMounts, 'unmountRecursive' | 'mountsUnder'>, calls: string[], ports = true) {
    return createVmTeardown({
      dirs: { host_ephemeral_bind_mounts_dir: join(dir, 'e'), host_persistent_bind_mounts_dir: join(dir, 'p'), state_dir: join(dir, 's') },
      containers: { destroyIfExists: async (h) => (calls.push(`destroy ${h}`), false) },
      ports: { removeForwarded: async (h: string) => void calls.push(`rules ${h}`) } satisfies Pick<PortForwarding, 'removeForwarded'>,
      mounts,
      records: { read: async () => ({ init: 'runit' as const, agent_id: 'a', ports }) },
      locks: createFileLocks(join(dir, 'locks'), silentLogger),
      logger: silentLogger,
    });
  }

  it('refuses to delete a host dir while anything is still mounted below it', async () => {
    const disk = join(dir, 'p', 'vm-1', 'disk-1');
    await mkdir(disk, { recursive: true });
    await writeFile(join(disk, 'precious'), 'data');
    const stuck = {
      unmountRecursive: async () => undefined,
      mountsUnder: async (d: string) => (d.includes('/p/') ? [{ target: disk, source: '/dev/loop9' }] : []),
    };
    await assert.rejects(teardown(stuck, []).deleteVm('vm-1'), /Still mounted under .*vm-1.*disk-1/);
    assert.ok(await stat(join(disk, 'precious')), 'nothing deleted');
  });

  it('destroys, skips the iptables scan for a VM recorded without ports, and removes dirs and records', async () => {
    await mkdir(join(dir, 'e', 'vm-2'), { recursive: true });
    await mkdir(join(dir, 's', 'vms', 'vm-2'), { recursive: true });
    const calls: string[] = [];
    const clean = { unmountRecursive: async (...d: string[]) => void calls.push(`umount ${d.join(' ')}`), mountsUnder: async () => [] };
    await mkdir(join(dir, 'p', 'vm-2'), { recursive: true });
    await mkdir(join(dir, 's', 'rootfs', 'vm-2', 'upper'), { recursive: true });
    // One rm for the ephemeral, persistent and root filesystem dirs together.
    assert.deepEqual(await spawnedDuring(() => teardown(clean, calls, false).deleteVm('vm-2')), ['rm']);
    for (const gone of [join(dir, 'p', 'vm-2'), join(dir, 's', 'rootfs', 'vm-2')]) assert.equal(await stat(gone).catch(() => undefined), undefined);
    assert.deepEqual(calls, [
      'destroy vm-2',
      // All three dirs in one unmount pass (one umount process for what is not loop-backed).
      `umount ${join(dir, 'e', 'vm-2')} ${join(dir, 'p', 'vm-2')} ${join(dir, 's', 'rootfs', 'vm-2')}`,
    ]);
    for (const gone of [join(dir, 'e', 'vm-2'), join(dir, 's', 'vms', 'vm-2')]) assert.equal(await stat(gone).catch(() => undefined), undefined);
    const withPorts: string[] = [];
    // Nothing left on the host: no rm at all.
    assert.deepEqual(await spawnedDuring(() => teardown(clean, withPorts, true).deleteVm('vm-2')), []);
    assert.ok(withPorts.includes('rules vm-2'));
  });
});
