import { lstat, readlink, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudError, withContext } from '../errors/cpi-errors';
import { cidProblem } from '../ids/cid';
import type { Locks } from '../host/file-lock';
import type { Logger } from '../log/logger';
import { dockerUri } from './light-stemcell';
import { removeDataIfUnused, removeEntry, type StemcellDataDirs } from './stemcell-data';
import { detectInitFromRootfs, initSystemForOs, type InitSystem } from './stemcell-init';
import { dataName, dataRecordPath, isStemcellCid, keyOfDataName, lightRecordPath, lockNameForKey } from './stemcell-layout';
import type { StemcellManifest } from './stemcell-manifest';
import { readRecord } from '../host/records';
import { dataRecordSchema, lightRecordSchema } from './stemcell-records';

/** A stemcell as create_vm needs it: Garden's image URI and what is known about the OS inside. */
export type FoundStemcell =
  | {
      kind: 'path';
      /** `<stemcells_dir>/<cid>`: Garden's image.uri, as upstream. */
      path: string;
      /** 'dir' = expanded rootfs, 'tar' = gunzipped tar file. */
      format: 'dir' | 'tar';
      os?: string;
      /** From the OS name, else read off the rootfs; undefined when neither tells (then the config decides). */
      init?: InitSystem;
      manifest?: StemcellManifest;
    }
  | { kind: 'docker'; uri: string; os?: string; init?: InitSystem; manifest?: StemcellManifest };

export interface StemcellStore {
  find(cid: string): Promise<FoundStemcell | undefined>;
  /** Idempotent: an unknown cid succeeds. Data shared with other cids stays until the last one goes. */
  delete(cid: string, logger: Logger): Promise<void>;
}

// Upstream light stemcell cids; nothing of them is stored, so they are resolved from the cid itself.
const UPSTREAM_LIGHT_PREFIX = 'light://';

export function createStemcellStore(deps: StemcellDataDirs & { locks: Locks }): StemcellStore {
  async function findOnDisk(cid: string): Promise<FoundStemcell | undefined> {
    const path = join(deps.stemcellsDir, cid);
    const entry = await lstat(path).catch(() => undefined);
    if (entry === undefined) return undefined;
    const target = entry.isSymbolicLink() ? await readlink(path) : undefined;
    const key = target === undefined ? undefined : keyOfDataName(target);
    // Our cids are symlinks to exactly `.data-<key>` beside them; any other symlink is not a stemcell of
    // ours (it could name any host dir as a VM's root): never followed.
    if (target !== undefined && key === undefined) return undefined;
    const data = key === undefined ? entry : await lstat(join(deps.stemcellsDir, dataName(key))).catch(() => undefined);
    if (data === undefined || !(data.isDirectory() || data.isFile())) return undefined;
    if (data === undefined) return undefined;
    const format = data.isDirectory() ? 'dir' : 'tar';
    const record = key === undefined ? undefined : await readRecord(dataRecordPath(deps.stateDir, key), dataRecordSchema);
    const os = record?.manifest?.operating_system;
    const init = initSystemForOs(os) ?? (format === 'dir' ? await detectInitFromRootfs(path) : undefined);
    return { kind: 'path', path, format, os, init, manifest: record?.manifest };
  }

  return {
    async find(cid) {
      if (cid.startsWith(UPSTREAM_LIGHT_PREFIX)) return { kind: 'docker', uri: dockerUri(cid.slice(UPSTREAM_LIGHT_PREFIX.length)) };
      if (!isStemcellCid(cid)) return undefined;
      const light = await readRecord(lightRecordPath(deps.stateDir, cid), lightRecordSchema);
      if (light !== undefined) {
        const os = light.manifest?.operating_system;
        return { kind: 'docker', uri: dockerUri(light.image_reference), os, init: initSystemForOs(os), manifest: light.manifest };
      }
      return findOnDisk(cid);
    },

    delete(cid, logger) {
      return withContext(`Deleting stemcell '${cid}'`, async () => {
        if (cid.startsWith(UPSTREAM_LIGHT_PREFIX)) {
          logger.info('Light stemcell of the upstream CPI: nothing stored, nothing to delete', { cid });
          return;
        }
        if (!isStemcellCid(cid)) throw new CloudError(`not a stemcell cid: ${cidProblem(cid) ?? 'invalid'}`);
        const lightPath = lightRecordPath(deps.stateDir, cid);
        // A light stemcell is its record: removed whether or not it still reads (a corrupt one is ours too).
        const light = await readRecord(lightPath, lightRecordSchema).catch((error: unknown) => {
          logger.warn('Removing an unreadable light stemcell record', { cid, error: String(error) });
          return 'unreadable' as const;
        });
        if (light !== undefined) {
          await rm(lightPath, { force: true });
          logger.info('Deleted light stemcell', { cid });
          return;
        }
        const path = join(deps.stemcellsDir, cid);
        const entry = await lstat(path).catch(() => undefined);
        if (entry === undefined) {
          logger.info('Stemcell not found; nothing to delete', { cid });
          return;
        }
        const key = entry.isSymbolicLink() ? keyOfDataName(await readlink(path)) : undefined;
        if (key === undefined) {
          // A real directory or tar file (imported by the upstream CPI) or a foreign symlink.
          await removeEntry(deps, cid);
          logger.info('Deleted stemcell', { cid });
          return;
        }
        // Under the key's lock, so an import cannot link to data this call is removing.
        await deps.locks.withLock(lockNameForKey(key), async () => {
          await unlink(path).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
          });
          await removeDataIfUnused(deps, key, logger);
        });
        logger.info('Deleted stemcell', { cid, data: dataName(key) });
      });
    },
  };
}
