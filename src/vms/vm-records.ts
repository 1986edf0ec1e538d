import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { readOwnFile } from '../host/own-files';
import { join } from 'node:path';
import * as z from 'zod';
import { parseJsonText } from '../config/json-text';
import { writeFileAtomic } from './host-files';
import { vmHostPaths, vmsStateRoot, type VmDirsConfig } from './vm-paths';

/** What later calls need to know about a VM without asking Garden. */
export const vmRecordSchema = z.looseObject({
  init: z.enum(['runit', 'systemd']),
  agent_id: z.string(),
  ports: z.boolean(),
});
export type VmRecord = z.infer<typeof vmRecordSchema>;

const creatingSchema = z.object({ pid: z.number().int(), started: z.string() });

/** The owner of a create_vm in progress: pid plus its start time, so a reused pid is not mistaken for it. */
export interface ProcessIdentity {
  pid: number;
  started: string;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); undefined when the process is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function currentProcess(): Promise<ProcessIdentity> {
  return { pid: process.pid, started: (await processStartTime(process.pid)) ?? '' };
}

export interface VmRecords {
  write(vmCid: string, record: VmRecord): Promise<void>;
  /** undefined for VMs this CPI did not create (e.g. by the upstream Go CPI). */
  read(vmCid: string): Promise<VmRecord | undefined>;
  markCreating(vmCid: string, owner: ProcessIdentity): Promise<void>;
  clearCreating(vmCid: string): Promise<void>;
  /** VMs whose create_vm process died before finishing or rolling back. */
  abandonedCreations(): Promise<string[]>;
}

export function createVmRecords(dirs: VmDirsConfig): VmRecords {
  return {
    async write(vmCid, record) {
      const paths = vmHostPaths(dirs, vmCid);
      await mkdir(paths.stateDir, { recursive: true });
      await writeFileAtomic(paths.recordFile, `${JSON.stringify(record)}\n`);
    },

    async read(vmCid) {
      const text = await readOwnFile(vmHostPaths(dirs, vmCid).recordFile).catch(() => undefined);
      if (text === undefined) return undefined;
      // A record that is not valid JSON is treated like one that does not match: absent.
      const json = parseJsonText(text);
      const parsed = json.ok ? vmRecordSchema.safeParse(json.value) : undefined;
      return parsed?.success ? parsed.data : undefined;
    },

    async markCreating(vmCid, owner) {
      const paths = vmHostPaths(dirs, vmCid);
      await mkdir(paths.stateDir, { recursive: true });
      await writeFileAtomic(paths.creatingMarker, `${JSON.stringify(owner)}\n`);
    },

    async clearCreating(vmCid) {
      await unlink(vmHostPaths(dirs, vmCid).creatingMarker).catch(() => undefined);
    },

    async abandonedCreations() {
      const root = vmsStateRoot(dirs);
      const names = await readdir(root).catch(() => [] as string[]);
      const abandoned: string[] = [];
      for (const name of names) {
        const text = await readOwnFile(join(root, name, 'creating.json')).catch(() => undefined);
        if (text === undefined) continue;
        let owner: ProcessIdentity | undefined;
        try {
          owner = creatingSchema.parse(JSON.parse(text));
        } catch {
          owner = undefined;
        }
        // A marker being written right now may read as garbage: only a readable, dead owner counts.
        if (owner === undefined) continue;
        if ((await processStartTime(owner.pid)) !== owner.started) abandoned.push(name);
      }
      return abandoned;
    },
  };
}
