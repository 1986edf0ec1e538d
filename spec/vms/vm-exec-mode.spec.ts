import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execModeUnavailable, busyboxRootfs } from '../../testkit/rootfs';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import { createAgentSettingsStore } from '../../src/vms/agent-settings-store';
import { MANUAL_NETWORK, startVmFixture, type VmFixture } from './vm-fixture';

const STEMCELL = 'sc-busybox-runit';

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 500; i += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// One create + start with real processes and mount namespaces (the emulator's exec mode): the agent
// stand-in reads its settings through the bind mount and keeps running after the CPI exited.
describe('create_vm + agent start in exec mode', { skip: execModeUnavailable() }, () => {
  let fx: VmFixture;
  before(async () => {
    fx = await startVmFixture({ processMode: 'exec' });
    const rootfs = join(fx.config.actions.stemcells_dir!, STEMCELL);
    await busyboxRootfs(rootfs);
    await mkdir(join(rootfs, 'usr/sbin'), { recursive: true });
    await mkdir(join(rootfs, 'var/vcap/bosh/bin'), { recursive: true });
    // The stand-in agent: copy the settings it sees to /var/vcap/data (the host ephemeral dir), then stay up.
    await writeFile(
      join(rootfs, 'usr/sbin/runsvdir-start'),
      '#!/bin/sh\ncp /var/vcap/bosh/warden-cpi-agent-env.json /var/vcap/data/agent-saw.json\nexec sleep 1000\n',
      { mode: 0o755 },
    );
  });
  after(() => fx.close());

  it('delivers settings through the read-only bind mount, sees in-place updates and disk mounts, deletes cleanly', async () => {
    const created = await fx.call('create_vm', ['agent-x', STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(created.response.error, null, created.stderr);
    const [cid] = created.response.result as [string];
    const actions = fx.config.actions;
    const seen = await waitFor(
      () => readFile(join(actions.host_ephemeral_bind_mounts_dir!, cid, 'agent-saw.json'), 'utf8').catch(() => undefined),
      'the agent stand-in to start',
    );
    assert.equal(JSON.parse(seen).agent_id, 'agent-x');
    const state = fx.emulator.containerState(cid);
    assert.equal(state?.processes[0]?.state, 'running', 'detached start keeps running after the CPI exited');
    const root = state?.rootfsViewDir ?? '';

    // attach_disk's settings update: rewritten in place, so the container sees it at once.
    const store = createAgentSettingsStore({
      dirs: actions as never,
      locks: createFileLocks(join(actions.state_dir!, 'locks'), silentLogger),
      legacy: { fetch: async () => undefined, deliver: async () => assert.fail('no Garden delivery for our VMs') },
      logger: silentLogger,
    });
    await store.update(cid, (settings) => {
      settings.disks.persistent = { 'disk-1': '/warden-cpi-dev/disk-1' };
    });
    const inside = JSON.parse(await readFile(join(root, 'var/vcap/bosh/warden-cpi-agent-env.json'), 'utf8'));
    assert.deepEqual(inside.disks.persistent, { 'disk-1': '/warden-cpi-dev/disk-1' });

    // A mount made later below the shared persistent dir shows up in the running container.
    const diskDir = join(actions.host_persistent_bind_mounts_dir!, cid, 'disk-1');
    await mkdir(diskDir);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', diskDir]);
    await writeFile(join(diskDir, 'data'), 'on disk');
    assert.equal(await readFile(join(root, 'warden-cpi-dev/disk-1/data'), 'utf8'), 'on disk');

    const deleted = await fx.call('delete_vm', [cid]);
    assert.equal(deleted.response.error, null, deleted.stderr);
    assert.deepEqual(fx.emulator.containerHandles(), []);
    assert.deepEqual(fx.mountsUnderDir(), []);
    assert.equal(await stat(join(actions.host_ephemeral_bind_mounts_dir!, cid)).catch(() => undefined), undefined);
  });
});
