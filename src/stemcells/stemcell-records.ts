import * as z from 'zod';
import { stemcellManifestSchema } from './stemcell-manifest';

/** Stemcell records under `<state_dir>/stemcells/`, read and written by host/records.ts. */

/** What is known of imported data (`.data-<key>`), shared by every cid that links to it. */
export const dataRecordSchema = z.object({
  key: z.string(),
  sha1: z.string(),
  format: z.enum(['dir', 'tar']),
  manifest: stemcellManifestSchema.optional(),
  imported_at: z.string(),
});
export type DataRecord = z.infer<typeof dataRecordSchema>;

/** A light stemcell: nothing on disk but this record, keyed by its (plain, uuid) cid. */
export const lightRecordSchema = z.object({
  cid: z.string(),
  image_reference: z.string(),
  digest: z.string().optional(),
  manifest: stemcellManifestSchema.optional(),
  created_at: z.string(),
});
export type LightRecord = z.infer<typeof lightRecordSchema>;
