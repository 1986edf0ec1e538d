import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskMetadataStore } from '../../src/disks/disk-metadata-store';
import { silentLogger } from '../../src/log/logger';

describe('DiskMetadataStore', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'disk-metadata-spec-'));
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('keeps metadata at <state_dir>/disks/<cid>/metadata.json, outside disks_dir, replacing it whole', async () => {
    const config = {
      disks_dir: join(root, 'disks'),
      host_persistent_bind_mounts_dir: join(root, 'p'),
      guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
      state_dir: join(root, 'state'),
    };
    const store = createDiskMetadataStore(config, silentLogger);
    assert.equal(await store.read('d1'), undefined);
    await store.write('d1', { deployment: 'a', instance_index: 0 });
    await store.write('d1', { deployment: 'b', attached_at: '2026' });
    assert.deepEqual(await store.read('d1'), { deployment: 'b', attached_at: '2026' });
    const file = join(root, 'state', 'disks', 'd1', 'metadata.json');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { deployment: 'b', attached_at: '2026' });
    assert.deepEqual(await readdir(join(root, 'state', 'disks', 'd1')), ['metadata.json']);
    await assert.rejects(readdir(config.disks_dir), { code: 'ENOENT' });
  });
});
