import { mkdir, stat } from 'node:fs/promises';
import { parseRecord, readOwnFile, rewriteFileInPlace, writeFileAtomic } from '../host/records';
import type { Locks } from '../host/file-lock';
import type { Logger } from '../log/logger';
import { VMNotFound, withContext } from '../errors/cpi-errors';
import { agentSettingsSchema, type AgentSettings } from './agent-settings';
import { vmHostPaths, vmLockName, type VmDirsConfig } from './vm-paths';

/**
 * How settings reach a container that has no bind-mounted settings file: VMs created by the upstream
 * Go CPI (drop-in replacement), whose settings live only inside the container. One Garden connection each.
 */
export interface LegacySettingsTransport {
  /** The settings file's text, or undefined when the container or the file does not exist. */
  fetch(vmCid: string): Promise<string | undefined>;
  deliver(vmCid: string, json: string): Promise<void>;
}

/** A VM's agent settings: an authoritative host copy, delivered to the container on every change. */
export interface AgentSettingsStore {
  /** create_vm, before the container exists: the host copy plus the file bind-mounted into the container. */
  create(vmCid: string, settings: AgentSettings): Promise<void>;
  read(vmCid: string): Promise<AgentSettings>;
  /** Under the VM's cross-process lock: read, mutate, write the host copy atomically, deliver. */
  update(vmCid: string, mutate: (settings: AgentSettings) => AgentSettings | void): Promise<AgentSettings>;
}

export interface AgentSettingsStoreDeps {
  dirs: VmDirsConfig;
  locks: Locks;
  legacy: LegacySettingsTransport;
  logger: Logger;
}

function serialise(settings: AgentSettings): string {
  return `${JSON.stringify(settings)}\n`;
}

/** The record reader's rule and wording (never echoing the text: settings hold the mbus password). */
function parseSettings(text: string, where: string): AgentSettings {
  return parseRecord(text, agentSettingsSchema, `Agent settings in ${where}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function createAgentSettingsStore(deps: AgentSettingsStoreDeps): AgentSettingsStore {
  async function readCurrent(vmCid: string): Promise<{ settings: AgentSettings; bindMounted: boolean }> {
    const paths = vmHostPaths(deps.dirs, vmCid);
    const text = await readOwnFile(paths.settingsFile);
    if (text !== undefined) {
      return { settings: parseSettings(text, `'${paths.settingsFile}'`), bindMounted: await exists(paths.deliveredSettingsFile) };
    }
    deps.logger.debug('No host copy of the agent settings; reading them from the container', { vm: vmCid });
    const legacy = await deps.legacy.fetch(vmCid);
    if (legacy === undefined) throw new VMNotFound(`VM '${vmCid}' not found (no agent settings on the host or in Garden)`);
    return { settings: parseSettings(legacy, `container '${vmCid}'`), bindMounted: false };
  }

  return {
    async create(vmCid, settings) {
      const paths = vmHostPaths(deps.dirs, vmCid);
      await withContext(`Writing agent settings for VM '${vmCid}'`, async () => {
        await mkdir(paths.stateDir, { recursive: true });
        const json = serialise(settings);
        await writeFileAtomic(paths.settingsFile, json, { logger: deps.logger });
        await writeFileAtomic(paths.deliveredSettingsFile, json, { logger: deps.logger });
      });
    },

    async read(vmCid) {
      return withContext(`Reading agent settings of VM '${vmCid}'`, async () => (await readCurrent(vmCid)).settings);
    },

    async update(vmCid, mutate) {
      return withContext(`Updating agent settings of VM '${vmCid}'`, () =>
        deps.locks.withLock(vmLockName(vmCid), async () => {
          const { settings, bindMounted } = await readCurrent(vmCid);
          const draft = structuredClone(settings);
          const next = agentSettingsSchema.parse(mutate(draft) ?? draft);
          const json = serialise(next);
          const paths = vmHostPaths(deps.dirs, vmCid);
          await mkdir(paths.stateDir, { recursive: true });
          await writeFileAtomic(paths.settingsFile, json, { logger: deps.logger });
          // The container sees the bind-mounted file at once; a legacy VM gets it streamed in.
          if (bindMounted) await rewriteFileInPlace(paths.deliveredSettingsFile, json);
          else await deps.legacy.deliver(vmCid, json);
          return next;
        }),
      );
    },
  };
}
