import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  diskGuestPath,
  diskHostMountPath,
  diskLockName,
  diskPaths,
  snapshotPaths,
  vmPersistentDir,
  type DisksConfig,
} from '../../src/disks/disk-paths';
import { InvalidRequest } from '../../src/errors/cpi-errors';

const config: DisksConfig = {
  disks_dir: '/store/disks',
  host_persistent_bind_mounts_dir: '/store/pbm',
  guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
  state_dir: '/store/state',
};

describe('disk paths', () => {
  it('keeps upstream layout for images and mounts, records in the state dir', () => {
    assert.deepEqual(diskPaths(config, 'd'), {
      image: '/store/disks/d',
      stateDir: '/store/state/disks/d',
      metadataFile: '/store/state/disks/d/metadata.json',
      frozenMarker: '/store/state/disks/d/frozen',
    });
    assert.equal(diskHostMountPath(config, 'v', 'd'), '/store/pbm/v/d');
    assert.equal(vmPersistentDir(config, 'v'), '/store/pbm/v');
    assert.equal(diskGuestPath(config, 'd'), '/warden-cpi-dev/d');
    assert.equal(snapshotPaths(config, 's').image, '/store/disks/snapshots/s');
    assert.equal(snapshotPaths(config, 's').metadataFile, '/store/state/snapshots/s/metadata.json');
    assert.equal(diskLockName('d'), 'disk-d');
  });

  it('refuses cids that are not one plain path component', () => {
    for (const bad of ['../etc', 'a/b', '', '.', '..', 'x\0y']) {
      assert.throws(() => diskPaths(config, bad), InvalidRequest, bad);
      assert.throws(() => diskHostMountPath(config, bad, 'd'), InvalidRequest, bad);
      assert.throws(() => snapshotPaths(config, bad), InvalidRequest, bad);
    }
  });
});
