import * as z from 'zod';
import type { StemcellImporter } from '../stemcells/stemcell-importer';
import type { CallContext } from './call-context';
import { cloudProperties } from './shared-schemas';

/** create_stemcell(image_path, cloud_properties): cloud_properties may be null (only light stemcells read it). */
export const createStemcellArgs = z
  .tuple([
    z
      .string()
      .min(1, 'must not be empty')
      .refine((path) => path.startsWith('/'), 'must be an absolute path'),
    cloudProperties,
  ])
  .rest(z.unknown());

export interface CreateStemcellDeps {
  stemcells: StemcellImporter;
}

/** Imports the stemcell image (or registers a light stemcell) and returns its cid string. */
export async function createStemcell(
  deps: CreateStemcellDeps,
  [imagePath, properties]: z.infer<typeof createStemcellArgs>,
  call: CallContext,
): Promise<string> {
  const started = Date.now();
  const cid = await deps.stemcells.importStemcell(imagePath, properties, call.logger);
  call.logger.info('Created stemcell', { cid, image_path: imagePath, ms: Date.now() - started });
  return cid;
}
