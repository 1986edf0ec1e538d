import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import type { AgentSettingsUpdater } from '../../src/disks/disk-settings';
import { buildAgentSettings } from '../../src/vms/agent-settings';
import { createAgentSettingsStore, type AgentSettingsStore, type LegacySettingsTransport } from '../../src/vms/agent-settings-store';
import { vmHostPaths } from '../../src/vms/vm-paths';

class FakeLegacyTransport implements LegacySettingsTransport {
  containers = new Map<string, string>();
  delivered: string[] = [];
  async fetch(vmCid: string) {
    return this.containers.get(vmCid);
  }
  async deliver(vmCid: string, json: string) {
    this.delivered.push(vmCid);
    this.containers.set(vmCid, json);
  }
}

const settings = (vmCid: string) =>
  buildAgentSettings({
    agentId: 'agent-1',
    vmCid,
    agent: { mbus: 'nats://u:p@10.0.0.1:4222', ntp: ['pool.ntp.org'], blobstore: { provider: 'dav', options: { endpoint: 'http://b' } } },
    networks: { default: { type: 'manual', ip: '10.244.0.2', netmask: '255.255.255.0', default: ['dns', 'gateway'], dns: ['8.8.8.8'] } },
    env: { bosh: { password: 'x' } },
    ephemeralPath: '/var/vcap/data',
  });

describe('AgentSettingsStore', () => {
  let dir: string;
  let dirs: { host_ephemeral_bind_mounts_dir: string; host_persistent_bind_mounts_dir: string; state_dir: string };
  let legacy: FakeLegacyTransport;
  let store: AgentSettingsStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cpi-settings-'));
    dirs = { host_ephemeral_bind_mounts_dir: join(dir, 'e'), host_persistent_bind_mounts_dir: join(dir, 'p'), state_dir: join(dir, 'state') };
    legacy = new FakeLegacyTransport();
    store = createAgentSettingsStore({ dirs, locks: createFileLocks(join(dir, 'locks'), silentLogger), legacy, logger: silentLogger });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('builds the settings the agent expects', () => {
    const value = settings('vm-1');
    assert.equal(value.agent_id, 'agent-1');
    assert.deepEqual(value.vm, { name: 'vm-1', id: 'vm-1' });
    assert.deepEqual(value.disks, { system: '', ephemeral: '/var/vcap/data', persistent: {} });
    assert.deepEqual(value.blobstore, { provider: 'dav', options: { endpoint: 'http://b' } });
    assert.equal((value.networks.default as { preconfigured: boolean }).preconfigured, true);
    assert.deepEqual(value.env, { bosh: { password: 'x' } });
  });

  it('updates the host copy and rewrites the bind-mounted file in place (same inode), no Garden', async () => {
    await store.create('vm-1', settings('vm-1'));
    const paths = vmHostPaths(dirs, 'vm-1');
    const inode = (await stat(paths.deliveredSettingsFile)).ino;
    const updater: AgentSettingsUpdater = store; // the disk helper's view of it
    await updater.update('vm-1', (s) => {
      s.disks.persistent = { 'disk-1': '/warden-cpi-dev/disk-1' };
    });
    const host = JSON.parse(await readFile(paths.settingsFile, 'utf8'));
    const delivered = JSON.parse(await readFile(paths.deliveredSettingsFile, 'utf8'));
    assert.deepEqual(host.disks.persistent, { 'disk-1': '/warden-cpi-dev/disk-1' });
    assert.deepEqual(delivered, host);
    assert.equal((await stat(paths.deliveredSettingsFile)).ino, inode);
    assert.deepEqual(legacy.delivered, []);

    // Shrinking content is padded, never truncated: still valid JSON with the new value.
    await store.update('vm-1', (s) => {
      s.disks.persistent = {};
    });
    assert.deepEqual(JSON.parse(await readFile(paths.deliveredSettingsFile, 'utf8')).disks.persistent, {});
    assert.deepEqual((await store.read('vm-1')).disks.persistent, {});
  });

  it('serialises concurrent updates (no lost write)', async () => {
    await store.create('vm-2', settings('vm-2'));
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.update('vm-2', (s) => {
          s.disks.persistent = { ...(s.disks.persistent ?? {}), [`disk-${i}`]: `/warden-cpi-dev/disk-${i}` };
        }),
      ),
    );
    assert.equal(Object.keys((await store.read('vm-2')).disks.persistent ?? {}).length, 8);
  });

  it('reads and delivers through Garden for VMs without host state (made by the upstream CPI)', async () => {
    legacy.containers.set('upstream-vm', JSON.stringify({ ...settings('upstream-vm'), disks: { system: '', ephemeral: null, persistent: null } }));
    const updated = await store.update('upstream-vm', (s) => {
      s.disks.persistent = { d: '/warden-cpi-dev/d' };
    });
    assert.deepEqual(updated.disks.persistent, { d: '/warden-cpi-dev/d' });
    assert.deepEqual(legacy.delivered, ['upstream-vm']);
    assert.deepEqual(JSON.parse(legacy.containers.get('upstream-vm') ?? '').disks.persistent, { d: '/warden-cpi-dev/d' });
  });

  it('answers VMNotFound when neither the host nor Garden has settings', async () => {
    await assert.rejects(store.read('nope'), (error: Error) => error.constructor.name === 'VMNotFound');
  });
});
