import { join } from 'node:path';
import type { CpiConfig } from '../config/cpi-config';

/** Where a VM's host state lives. `vmCid` must already be a validated plain id. */
export interface VmHostPaths {
  /** `<host_ephemeral_bind_mounts_dir>/<vm>`: the container's /var/vcap/data. */
  ephemeralDir: string;
  /** `<host_persistent_bind_mounts_dir>/<vm>`: the container's /warden-cpi-dev; disks mount below it. */
  persistentDir: string;
  /** `<state_dir>/vms/<vm>`: the CPI's own records for this VM (never visible in the container). */
  stateDir: string;
  /** Authoritative agent settings (replaced atomically). */
  settingsFile: string;
  /** The copy bind-mounted read-only into the container (rewritten in place: a bind mount pins the inode). */
  deliveredSettingsFile: string;
  /** Small facts later calls need without asking Garden (init system, whether ports were forwarded). */
  recordFile: string;
  /** Present while create_vm runs; a marker left by a dead process means its VM must be rolled back. */
  creatingMarker: string;
  /**
   * `<state_dir>/rootfs/<vm>`: the VM's copy-on-write root (expand-mode stemcells), kept apart from the
   * records so removing the records can never reach into a mounted root. Holds `lower` (a symlink to the
   * stemcell dir), `upper` and `work` (overlayfs) and `root` (the overlay mount Garden gets as raw://).
   */
  rootfsDir: string;
}

export type VmDirsConfig = Pick<CpiConfig['actions'], 'host_ephemeral_bind_mounts_dir' | 'host_persistent_bind_mounts_dir' | 'state_dir'>;

export function vmsStateRoot(actions: Pick<CpiConfig['actions'], 'state_dir'>): string {
  return join(actions.state_dir, 'vms');
}

export function vmHostPaths(actions: VmDirsConfig, vmCid: string): VmHostPaths {
  const stateDir = join(vmsStateRoot(actions), vmCid);
  return {
    ephemeralDir: join(actions.host_ephemeral_bind_mounts_dir, vmCid),
    persistentDir: join(actions.host_persistent_bind_mounts_dir, vmCid),
    stateDir,
    settingsFile: join(stateDir, 'agent-settings.json'),
    deliveredSettingsFile: join(stateDir, 'agent-env.json'),
    recordFile: join(stateDir, 'vm.json'),
    creatingMarker: join(stateDir, 'creating.json'),
    rootfsDir: join(actions.state_dir, 'rootfs', vmCid),
  };
}

/** The guest path of the agent settings file, as upstream and the warden stemcell's agent.json use it. */
export const GUEST_AGENT_SETTINGS_PATH = '/var/vcap/bosh/warden-cpi-agent-env.json';

/** The cross-process lock guarding one VM's settings and records. */
export function vmLockName(vmCid: string): string {
  return `vm-${vmCid.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}
