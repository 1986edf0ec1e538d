import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { isProcessGone, type ProcessIdentity } from '../host/process-identity';
import { readRecord, writeRecord } from '../host/records';
import type { Logger } from '../log/logger';
import { vmHostPaths, vmsStateRoot, type VmDirsConfig } from './vm-paths';

/** What later calls need to know about a VM without asking Garden. */
export const vmRecordSchema = z.looseObject({
  init: z.enum(['runit', 'systemd']),
  agent_id: z.string(),
  ports: z.boolean(),
});
export type VmRecord = z.infer<typeof vmRecordSchema>;

/** The creating marker: the create_vm process that owns the VM until it finished or rolled back. */
const creatingSchema = z.object({ pid: z.number().int(), started: z.string() });

/** A VM's records under `<state_dir>/vms/<vm>/`, read and written as host/records.ts says. */
export interface VmRecords {
  write(vmCid: string, record: VmRecord): Promise<void>;
  /** undefined for VMs this CPI did not create (e.g. by the upstream Go CPI); a corrupt record is a CloudError. */
  read(vmCid: string): Promise<VmRecord | undefined>;
  markCreating(vmCid: string, owner: ProcessIdentity): Promise<void>;
  clearCreating(vmCid: string): Promise<void>;
  /** VMs whose create_vm process died before finishing or rolling back (an unreadable marker is logged and skipped). */
  abandonedCreations(): Promise<string[]>;
}

export function createVmRecords(dirs: VmDirsConfig, logger: Logger): VmRecords {
  return {
    async write(vmCid, record) {
      const paths = vmHostPaths(dirs, vmCid);
      await mkdir(paths.stateDir, { recursive: true });
      await writeRecord(paths.recordFile, record, { logger });
    },

    async read(vmCid) {
      return readRecord(vmHostPaths(dirs, vmCid).recordFile, vmRecordSchema);
    },

    async markCreating(vmCid, owner) {
      const paths = vmHostPaths(dirs, vmCid);
      await mkdir(paths.stateDir, { recursive: true });
      await writeRecord(paths.creatingMarker, owner, { logger });
    },

    async clearCreating(vmCid) {
      await unlink(vmHostPaths(dirs, vmCid).creatingMarker).catch(() => undefined);
    },

    async abandonedCreations() {
      const root = vmsStateRoot(dirs);
      const abandoned: string[] = [];
      for (const name of await readdir(root).catch(() => [] as string[])) {
        const marker = join(root, name, 'creating.json');
        const owner = await readRecord(marker, creatingSchema).catch((error: unknown) => {
          // Written atomically, so never half-written: someone else's doing. Left for delete_vm, not guessed at.
          logger.warn('Skipping an unreadable creating marker', { marker, error: String(error) });
          return undefined;
        });
        if (owner !== undefined && isProcessGone(owner)) abandoned.push(name);
      }
      return abandoned;
    },
  };
}
