/**
 * The slice of a VM's agent settings that disks change: `disks.persistent[<disk>] = <guest path>`.
 * Declared here so src/vms/agent-settings-store.ts's AgentSettingsStore satisfies it without disks
 * depending on the whole settings shape (spec/disks/disk-settings.spec.ts checks that at compile time).
 */
export interface PersistentDiskSettings {
  disks: { persistent?: Record<string, unknown> | null };
}

/** Read-modify-write of one VM's settings under that VM's lock, delivered to the container. */
export interface AgentSettingsUpdater {
  update(vmCid: string, mutate: (settings: PersistentDiskSettings) => void): Promise<unknown>;
}

/** Records an attached disk's guest path (upstream writes `persistent: null` until the first attach). */
export function addPersistentDisk(settings: PersistentDiskSettings, diskCid: string, guestPath: string): void {
  settings.disks.persistent = { ...(settings.disks.persistent ?? {}), [diskCid]: guestPath };
}

/** Removes a disk's entry; returns whether there was one. */
export function removePersistentDisk(settings: PersistentDiskSettings, diskCid: string): boolean {
  const persistent = settings.disks.persistent;
  if (!persistent || !Object.prototype.hasOwnProperty.call(persistent, diskCid)) return false;
  const { [diskCid]: _removed, ...rest } = persistent;
  settings.disks.persistent = rest;
  return true;
}
