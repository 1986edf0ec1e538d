import { mkdir } from 'node:fs/promises';
import * as z from 'zod';
import { withContext } from '../errors/cpi-errors';
import { readRecord, writeRecord } from '../host/records';
import type { Logger } from '../log/logger';
import { diskPaths, type DisksConfig } from './disk-paths';

/** The Director's disk metadata, stored at `<state_dir>/disks/<cid>/metadata.json` (out of disks_dir). */
export interface DiskMetadataStore {
  write(diskCid: string, metadata: Record<string, unknown>): Promise<void>;
  /** undefined when none was set; a corrupt record is a CloudError (host/records.ts). */
  read(diskCid: string): Promise<Record<string, unknown> | undefined>;
}

const storedMetadata = z.record(z.string(), z.unknown());

export function createDiskMetadataStore(config: DisksConfig, logger: Logger): DiskMetadataStore {
  return {
    async write(diskCid, metadata) {
      const paths = diskPaths(config, diskCid);
      await withContext(`Writing metadata of disk '${diskCid}' to '${paths.metadataFile}'`, async () => {
        await mkdir(paths.stateDir, { recursive: true });
        await writeRecord(paths.metadataFile, metadata, { logger });
      });
    },

    async read(diskCid) {
      return withContext(`Reading metadata of disk '${diskCid}'`, () => readRecord(diskPaths(config, diskCid).metadataFile, storedMetadata));
    },
  };
}
