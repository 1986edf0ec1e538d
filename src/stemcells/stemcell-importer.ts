import { access, chmod, constants, lstat, mkdir, rename } from 'node:fs/promises';
import { ensurePrivateDir } from '../host/private-dirs';
import { dirname, join } from 'node:path';
import { CloudError, withContext } from '../errors/cpi-errors';
import { describeFirstIssue, formatIssuePath } from '../errors/validation-message';
import type { Locks } from '../host/file-lock';
import { writeRecord } from '../host/records';
import { removeTree } from '../host/remove-tree';
import { tempName } from '../host/temp-files';
import type { Logger } from '../log/logger';
import { checkImageFile, expandImage, gunzipImage, type GunzipStrategy, type UnpackResult } from './image-unpacker';
import { isLightStemcell, lightStemcellPropertiesSchema } from './light-stemcell';
import { cleanLeftovers, linkCid, pathExists, type StemcellDataDirs } from './stemcell-data';
import { dataKey, dataName, dataRecordPath, lightRecordPath, lockNameForKey, type StemcellFormat } from './stemcell-layout';
import { readStemcellManifest, type StemcellManifest } from './stemcell-manifest';
import type { DataRecord, LightRecord } from './stemcell-records';

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

/**
 * stemcell.MF's `sha1` of the image: 40 hex digits, or the multi-digest form `sha1:<hex>[;sha256:<hex>]`
 * (the sha1 is the one checked). Absent: undefined (the import keys its data by the sha1 it computes). Any
 * other value is refused: a manifest naming a digest that cannot be checked cannot vouch for the image.
 */
export function declaredSha1(manifest: StemcellManifest | undefined): string | undefined {
  const value = manifest?.sha1?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^[0-9a-f]{40}$/i.test(value)) return value.toLowerCase();
  const sha1 = value
    .split(';')
    .map((part) => /^sha1:([0-9a-f]{40})$/i.exec(part.trim())?.[1])
    .find((hex) => hex !== undefined);
  if (sha1 !== undefined) return sha1.toLowerCase();
  throw new CloudError(
    `stemcell.MF's sha1 '${value.slice(0, 200)}' is not a sha1 (40 hex digits, or 'sha1:<40 hex digits>'): the image cannot be checked`,
  );
}

/** Clears the group and other write bits of an expanded stemcell's root dir (never through a symlink). */
async function normaliseRootMode(dir: string): Promise<void> {
  const info = await lstat(dir);
  if (info.isDirectory() && (info.mode & 0o022) !== 0) await chmod(dir, info.mode & 0o7755);
}

export function createStemcellImporter(deps: StemcellImporterDeps): StemcellImporter {
  const format: StemcellFormat = deps.expand ? 'dir' : 'tar';
  const now = deps.now ?? (() => new Date());

  async function prepareStemcellsDir(): Promise<void> {
    try {
      await ensurePrivateDir(deps.stemcellsDir);
      await ensurePrivateDir(deps.stateDir);
      await access(deps.stemcellsDir, constants.W_OK);
    } catch (error) {
      throw new CloudError(`stemcells dir '${deps.stemcellsDir}' is not writable: ${(error as Error).message}`, { cause: error });
    }
  }

  async function storeRecord(path: string, record: DataRecord | LightRecord, logger: Logger): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeRecord(path, record, { mode: 0o644, logger });
  }

  /** Unpacks into a temp name (`.stemcell.import-…`, host/temp-files.ts) in stemcells_dir; removes it again on any failure. */
  async function unpackToTemp(imagePath: string, logger: Logger): Promise<{ temp: string; result: UnpackResult }> {
    const temp = join(deps.stemcellsDir, tempName('stemcell', 'import'));
    try {
      const options = { logger, strategy: deps.gunzipStrategy };
      if (deps.expand) await mkdir(temp, { mode: 0o755 });
      const result = await withContext('Unpacking', () =>
        deps.expand ? expandImage(imagePath, temp, options) : gunzipImage(imagePath, temp, options),
      );
      // The tar's own root entry sets the root dir's mode: a group- or world-writable root (0777) would let
      // any user of a VM's raw:// root, or of the host, add files to /. Roots are 0755-like, always.
      if (deps.expand) await normaliseRootMode(temp);
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
      await storeRecord(dataRecordPath(deps.stateDir, key), record, logger);
      await rename(temp, join(deps.stemcellsDir, dataName(key)));
    }
    await linkCid(deps, cid, key);
  }

  /** The image's sha1 against stemcell.MF's; a mismatch is refused naming both. */
  function verify(imagePath: string, result: UnpackResult, declared: string | undefined): void {
    if (declared !== undefined && result.sha1 !== declared) {
      throw new CloudError(
        `image '${imagePath}' has sha1 ${result.sha1}, but stemcell.MF says sha1 ${declared}: the image is not the stemcell its manifest describes (a broken or partial download?); nothing was imported`,
      );
    }
  }

  async function importHeavy(imagePath: string, manifest: StemcellManifest | undefined, logger: Logger): Promise<string> {
    // Before any side effect, a missing image or one that is not a file changes nothing on disk. Its content
    // is not read here: a stemcell already imported under stemcell.MF's sha1 is linked without reading it.
    await checkImageFile(imagePath);
    const declared = declaredSha1(manifest);
    await prepareStemcellsDir();
    await withContext('Cleaning leftovers', () => cleanLeftovers(deps, deps.locks, logger));
    const cid = deps.newId();
    let unpacked: { temp: string; result: UnpackResult } | undefined;
    try {
      if (declared !== undefined) {
        // Same-sha1 imports queue here, so the first unpacks and the rest only link.
        const key = dataKey(declared, format);
        await deps.locks.withLock(lockNameForKey(key), async () => {
          if (await pathExists(join(deps.stemcellsDir, dataName(key)))) {
            logger.info('Stemcell already imported; sharing its data', { cid, data: dataName(key) });
            await linkCid(deps, cid, key);
            return;
          }
          unpacked = await unpackToTemp(imagePath, logger);
          verify(imagePath, unpacked.result, declared);
          await settle(cid, unpacked.temp, key, declared, manifest, logger);
        });
        return cid;
      }
      unpacked = await unpackToTemp(imagePath, logger);
      const { temp, result } = unpacked;
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
      const problem = describeFirstIssue(parsed.error.issues, cloudProperties ?? {}, (path) => formatIssuePath(path, 'cloud_properties'));
      throw new CloudError(`Invalid light stemcell ${problem}`);
    }
    const cid = deps.newId();
    const record: LightRecord = {
      cid,
      image_reference: parsed.data.image_reference,
      digest: parsed.data.digest,
      manifest,
      created_at: now().toISOString(),
    };
    await storeRecord(lightRecordPath(deps.stateDir, cid), record, logger);
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
