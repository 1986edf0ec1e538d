import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { readOwnFile } from '../host/own-files';
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { CloudError, withContext } from '../errors/cpi-errors';
import { parseJsonText } from '../config/json-text';
import { diskPaths, type DisksConfig } from './disk-paths';

/** The Director's disk metadata, stored at `<state_dir>/disks/<cid>/metadata.json` (out of disks_dir). */
export interface DiskMetadataStore {
  write(diskCid: string, metadata: Record<string, unknown>): Promise<void>;
  read(diskCid: string): Promise<Record<string, unknown> | undefined>;
}

/** Temp file + rename: a reader (or a crash) sees the old or the new document, never half of one. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o640 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

const storedMetadata = z.record(z.string(), z.unknown());

export function createDiskMetadataStore(config: DisksConfig): DiskMetadataStore {
  return {
    async write(diskCid, metadata) {
      const paths = diskPaths(config, diskCid);
      await withContext(`Writing metadata of disk '${diskCid}' to '${paths.metadataFile}'`, async () => {
        await mkdir(paths.stateDir, { recursive: true });
        await writeJsonAtomic(paths.metadataFile, metadata);
      });
    },

    async read(diskCid) {
      const { metadataFile } = diskPaths(config, diskCid);
      const text = await readOwnFile(metadataFile).catch(() => undefined);
      if (text === undefined) return undefined;
      const json = parseJsonText(text);
      if (!json.ok) throw new CloudError(`Metadata of disk '${diskCid}' in '${metadataFile}' is not valid JSON (${json.where})`);
      const parsed = storedMetadata.safeParse(json.value);
      if (!parsed.success) throw new CloudError(`Metadata of disk '${diskCid}' in '${metadataFile}' is invalid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return parsed.data;
    },
  };
}
