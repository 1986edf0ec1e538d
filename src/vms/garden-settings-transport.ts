import { basename, dirname } from 'node:path';
import type { GardenClient } from '../garden/garden-client';
import { readFirstTarFile, tarFromEntries } from '../garden/garden-tar';
import type { LegacySettingsTransport } from './agent-settings-store';
import type { VmFinder } from './vm-finder';
import { GUEST_AGENT_SETTINGS_PATH } from './vm-paths';

/**
 * Settings of VMs without a bind-mounted settings file (made by the upstream CPI), moved the way
 * upstream does: a one-entry tar streamed in to /var/vcap/bosh/, streamed out to read. One connection each.
 */
export function createGardenSettingsTransport(
  garden: Pick<GardenClient, 'streamIn' | 'streamOut'>,
  vms: Pick<VmFinder, 'tryContainer' | 'onContainer'>,
): LegacySettingsTransport {
  return {
    async fetch(vmCid) {
      const outcome = await vms.tryContainer(vmCid, async () => {
        const archive = await garden.streamOut(vmCid, { source: GUEST_AGENT_SETTINGS_PATH, user: 'root' });
        // gdn streams an empty tar for a missing file.
        return (await readFirstTarFile(archive, 4 * 1024 * 1024))?.content.toString('utf8');
      });
      return outcome.found ? outcome.value : undefined;
    },

    async deliver(vmCid, json) {
      const archive = tarFromEntries([{ name: basename(GUEST_AGENT_SETTINGS_PATH), content: json, mode: 0o640 }]);
      await vms.onContainer(vmCid, () => garden.streamIn(vmCid, { destination: `${dirname(GUEST_AGENT_SETTINGS_PATH)}/`, user: 'root' }, archive));
    },
  };
}
