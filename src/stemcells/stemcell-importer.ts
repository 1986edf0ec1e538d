import { access, constants, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudError, withContext } from '../errors/cpi-errors';
import type { Locks } from '../host/file-lock';
import { removeTree } from '../host/remove-tree';
import type { Logger } from '../log/logger';
import { checkImageFile, expandImage, gunzipImage, type GunzipStrategy, type UnpackResult } from './image-unpacker';
import { isLightStemcell, lightStemcellPropertiesSchema } from './light-stemcell';
import { cleanLeftovers, linkCid, pathExists, type StemcellDataDirs } from './stemcell-data';
import { dataKey, dataName, dataRecordPath, lightRecordPath, lockNameForKey, tempName, type StemcellFormat } from './stemcell-layout';
import { readStemcellManifest, type StemcellManifest } from './stemcell-manifest';
import { writeRecord, type DataRecord, type LightRecord } from './stemcell-records';

/** create_stemcell's service: image path (+ cloud_properties for light stemcells) in, a plain cid out. */
export interface StemcellImporter {
  importStemcell(imagePath: string, cloudProperties: unknown, logger: Logger): Promise<string>;
}

export interface StemcellImporterDeps extends StemcellDataDirs {
  /** true: expand into a rootfs directory; false (BOSH Lite): gunzip into a plain tar file. */
  expand: boolean;
  locks: Locks;
  gunzipStrategy?: GunzipStrategy;
  now?: () => Date;
}

const SHA1 = /^[0-9a-f]{40}$/i;

export function createStemcellImporter(deps: StemcellImporterDeps): StemcellImporter {
  const format: StemcellFormat = deps.expand ? 'dir' : 'tar';
  const now = deps.now ?? (() => new Date());

  async function prepareStemcellsDir(): Promise<void> {
    try {
      await mkdir(deps.stemcellsDir, { recursive: true });
      await access(deps.stemcellsDir, constants.W_OK);
    } catch (error) {
      throw new CloudError(`stemcells dir '${deps.stemcellsDir}' is not writable: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Unpacks into `.import-<pid>-<uuid>` beside the final name; removes it again on any failure. */
  async function unpackToTemp(imagePath: string, logger: Logger): Promise<{ temp: string; result: UnpackResult }> {
    const temp = join(deps.stemcellsDir, tempName('import', process.pid, deps.newId()));
    try {
      const options = { logger, strategy: deps.gunzipStrategy };
      if (deps.expand) await mkdir(temp, { mode: 0o755 });
      const result = await withContext('Unpacking', () => (deps.expand ? expandImage(imagePath, temp, options) : gunzipImage(imagePath, temp, options)));
      logger.debug('Unpacked stemcell image', { temp, bytes: result.bytesRead, sha1: result.sha1 });
      return { temp, result };
    } catch (error) {
      await removeTree(temp).catch(() => undefined);
      throw error;
    }
  }

  /** Under the key's lock: moves fresh data into place, or drops it when identical data already exists. */
  async function settle(cid: string, temp: string, key: string, sha1: string, manifest: StemcellManifest | undefined, logger: Logger): Promise<void> {
    if (await pathExists(join(deps.stemcellsDir, dataName(key)))) {
      logger.info('Identical stemcell already imported; sharing its data', { cid, data: dataName(key) });
      await removeTree(temp);
    } else {
      const record: DataRecord = { key, sha1, format, manifest, imported_at: now().toISOString() };
      await writeRecord(dataRecordPath(deps.stateDir, key), record);
      await rename(temp, join(deps.stemcellsDir, dataName(key)));
    }
    await linkCid(deps, cid, key);
  }

  async function importHeavy(imagePath: string, manifest: StemcellManifest | undefined, logger: Logger): Promise<string> {
    // Before any side effect, a missing image or one that is not a file changes nothing on disk. Its content
    // is not read here: a stemcell already imported under stemcell.MF's sha1 is linked without reading it.
    await checkImageFile(imagePath);
    await prepareStemcellsDir();
    await withContext('Cleaning leftovers', () => cleanLeftovers(deps, deps.locks, logger));
    const cid = deps.newId();
    const declared = manifest?.sha1 !== undefined && SHA1.test(manifest.sha1) ? manifest.sha1.toLowerCase() : undefined;
    let unpacked: { temp: string; result: UnpackResult } | undefined;
    try {
      if (declared !== undefined) {
        // Same-sha1 imports queue here, so the first unpacks and the rest only link.
        const key = dataKey(declared, format);
        const done = await deps.locks.withLock(lockNameForKey(key), async () => {
          if (await pathExists(join(deps.stemcellsDir, dataName(key)))) {
            logger.info('Stemcell already imported; sharing its data', { cid, data: dataName(key) });
            await linkCid(deps, cid, key);
            return true;
          }
          unpacked = await unpackToTemp(imagePath, logger);
          if (unpacked.result.sha1 !== declared) return false;
          await settle(cid, unpacked.temp, key, declared, manifest, logger);
          return true;
        });
        if (done) return cid;
        logger.warn("Image sha1 differs from stemcell.MF's; keying its data by the computed sha1", { declared });
      }
      const { temp, result } = unpacked ?? (await unpackToTemp(imagePath, logger));
      unpacked = { temp, result };
      const key = dataKey(result.sha1, format);
      await deps.locks.withLock(lockNameForKey(key), () => settle(cid, temp, key, result.sha1, manifest, logger));
    } catch (error) {
      // Gone already when it was renamed into place; otherwise nothing may stay behind.
      if (unpacked !== undefined) await removeTree(unpacked.temp).catch(() => undefined);
      throw error;
    }
    return cid;
  }

  async function importLight(cloudProperties: unknown, manifest: StemcellManifest | undefined, logger: Logger): Promise<string> {
    const parsed = lightStemcellPropertiesSchema.safeParse(cloudProperties ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CloudError(`Invalid light stemcell cloud_properties.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    const cid = deps.newId();
    const record: LightRecord = {
      cid,
      image_reference: parsed.data.image_reference,
      digest: parsed.data.digest,
      manifest,
      created_at: now().toISOString(),
    };
    await writeRecord(lightRecordPath(deps.stateDir, cid), record);
    logger.info('Registered light stemcell', { cid, image_reference: record.image_reference });
    return cid;
  }

  return {
    importStemcell(imagePath, cloudProperties, logger) {
      return withContext(`Importing stemcell '${imagePath}'`, async () => {
        const manifest = await readStemcellManifest(imagePath);
        if (isLightStemcell(manifest)) return importLight(cloudProperties, manifest, logger);
        return importHeavy(imagePath, manifest, logger);
      });
    },
  };
}
