import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmPresence } from '../../src/disks/vm-presence';

describe('VmPresence', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vm-presence-spec-'));
    await mkdir(join(root, 'vms', 'ours'), { recursive: true });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('knows our VMs from host state without asking Garden', async () => {
    const asked: string[] = [];
    const presence = createVmPresence({
      dirs: { state_dir: root },
      containerExists: async (vm) => {
        asked.push(vm);
        return vm === 'upstream-made';
      },
    });
    assert.equal(await presence.exists('ours'), true);
    assert.deepEqual(asked, []);
    assert.equal(await presence.exists('upstream-made'), true);
    assert.equal(await presence.exists('gone'), false);
    assert.deepEqual(asked, ['upstream-made', 'gone']);
  });

  it('without Garden, only host state counts', async () => {
    const presence = createVmPresence({ dirs: { state_dir: root } });
    assert.equal(await presence.exists('ours'), true);
    assert.equal(await presence.exists('other'), false);
    await assert.rejects(presence.exists('../vms'), /Invalid VM cid/);
  });
});
