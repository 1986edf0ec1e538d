import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as z from 'zod';
import { stemcellManifestSchema } from './stemcell-manifest';

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

/** Writes JSON beside its final name and renames it into place, so readers never see half a record. */
export async function writeRecord(path: string, record: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}-${randomUUID()}`;
  try {
    await writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o644 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Reads a record; undefined when it does not exist or does not match its schema (treated as absent). */
export async function readRecord<Schema extends z.ZodType>(path: string, schema: Schema): Promise<z.infer<Schema> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
