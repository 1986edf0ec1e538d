import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentSettingsStore } from '../../src/vms/agent-settings-store';
import { addPersistentDisk, removePersistentDisk, type AgentSettingsUpdater, type PersistentDiskSettings } from '../../src/disks/disk-settings';

// Compile-time: the VM helper's real store can be handed to the disk actions as is.
const realStoreFits = (store: AgentSettingsStore): AgentSettingsUpdater => store;
void realStoreFits;

describe('persistent disk settings', () => {
  it('adds an entry to the null `persistent` upstream writes, and to an existing map', () => {
    const settings: PersistentDiskSettings = { disks: { persistent: null } };
    addPersistentDisk(settings, 'd1', '/warden-cpi-dev/d1');
    addPersistentDisk(settings, 'd2', '/warden-cpi-dev/d2');
    assert.deepEqual(settings.disks.persistent, { d1: '/warden-cpi-dev/d1', d2: '/warden-cpi-dev/d2' });
  });

  it('removes an entry and says whether there was one', () => {
    const settings: PersistentDiskSettings = { disks: { persistent: { d1: '/warden-cpi-dev/d1', d2: 'x' } } };
    assert.equal(removePersistentDisk(settings, 'd1'), true);
    assert.deepEqual(settings.disks.persistent, { d2: 'x' });
    assert.equal(removePersistentDisk(settings, 'd1'), false);
    assert.equal(removePersistentDisk({ disks: { persistent: null } }, 'd1'), false);
    assert.equal(removePersistentDisk({ disks: {} }, 'toString'), false);
  });
});
