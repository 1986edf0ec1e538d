import { basename, dirname } from 'node:path';
import { GardenContainerNotFound, GardenError, type GardenClient } from '../garden/garden-client';
import { readFirstTarFile, tarFromEntries } from '../garden/garden-tar';
import type { LegacySettingsTransport } from './agent-settings-store';
import { GUEST_AGENT_SETTINGS_PATH } from './vm-paths';

// gdn answers file routes for an unknown handle with a 500, not ContainerNotFoundError.
function isMissingContainer(error: unknown): boolean {
  return error instanceof GardenContainerNotFound || (error instanceof GardenError && /pid not found|unknown handle/i.test(error.message));
}

/**
 * Settings of VMs without a bind-mounted settings file (made by the upstream CPI), moved the way
 * upstream does: a one-entry tar streamed in to /var/vcap/bosh/, streamed out to read. One connection each.
 */
export function createGardenSettingsTransport(garden: Pick<GardenClient, 'streamIn' | 'streamOut'>): LegacySettingsTransport {
  return {
    async fetch(vmCid) {
      try {
        const archive = await garden.streamOut(vmCid, { source: GUEST_AGENT_SETTINGS_PATH, user: 'root' });
        // gdn streams an empty tar for a missing file.
        return (await readFirstTarFile(archive, 4 * 1024 * 1024))?.content.toString('utf8');
      } catch (error) {
        if (isMissingContainer(error)) return undefined;
        throw error;
      }
    },

    async deliver(vmCid, json) {
      const archive = tarFromEntries([{ name: basename(GUEST_AGENT_SETTINGS_PATH), content: json, mode: 0o640 }]);
      await garden.streamIn(vmCid, { destination: `${dirname(GUEST_AGENT_SETTINGS_PATH)}/`, user: 'root' }, archive);
    },
  };
}
