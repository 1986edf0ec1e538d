import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';

/** What the CPI uses of stemcell.MF; every field optional because manifests vary across stemcell lines. */
export const stemcellManifestSchema = z.object({
  name: z.string().optional(),
  version: z.string().optional(),
  sha1: z.string().optional(),
  operating_system: z.string().optional(),
  stemcell_formats: z.array(z.string()).optional(),
  api_version: z.number().int().optional(),
});
export type StemcellManifest = z.infer<typeof stemcellManifestSchema>;

function unquote(value: string): string {
  const trimmed = value.trim();
  const quote = trimmed[0];
  if (quote === '"' || quote === "'") {
    const end = trimmed.indexOf(quote, 1);
    if (end > 0) return trimmed.slice(1, end);
  }
  // A trailing ` # comment` is not part of a plain scalar.
  return trimmed.replace(/\s+#.*$/, '');
}

function inlineList(value: string): string[] {
  return value
    .slice(1, -1)
    .split(',')
    .map(unquote)
    .filter((item) => item !== '');
}

/**
 * A tolerant reader for the few top-level scalars and the one list we need: stemcell.MF is flat YAML
 * (`key: value`, `stemcell_formats:` then `- item` lines or `[a, b]`), so no YAML dependency.
 * Unknown keys and nested maps (cloud_properties) are skipped.
 */
export function parseStemcellManifest(text: string): StemcellManifest {
  const fields: Record<string, unknown> = {};
  let listKey: string | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    if (rawLine.trim() === '' || rawLine.trimStart().startsWith('#')) continue;
    const item = /^\s*-\s+(.*)$/.exec(rawLine);
    if (item && listKey !== undefined) {
      (fields[listKey] as string[]).push(unquote(item[1] ?? ''));
      continue;
    }
    if (/^\s/.test(rawLine)) continue; // nested content of a map we do not read
    listKey = undefined;
    const pair = /^([A-Za-z0-9_]+):\s*(.*)$/.exec(rawLine);
    if (!pair) continue;
    const key = pair[1] ?? '';
    const value = (pair[2] ?? '').trim();
    if (key === 'stemcell_formats') {
      if (value.startsWith('[') && value.endsWith(']')) fields[key] = inlineList(value);
      else if (value === '') {
        fields[key] = [];
        listKey = key;
      }
    } else if (key === 'api_version') {
      const number = Number(unquote(value));
      if (Number.isInteger(number)) fields[key] = number;
    } else if (['name', 'version', 'sha1', 'operating_system'].includes(key) && value !== '') {
      fields[key] = unquote(value);
    }
  }
  const parsed = stemcellManifestSchema.safeParse(fields);
  return parsed.success ? parsed.data : {};
}

/** Reads the manifest beside the image; a missing or unreadable manifest is not an error (undefined). */
export async function readStemcellManifest(imagePath: string): Promise<StemcellManifest | undefined> {
  for (const name of ['stemcell.MF', 'stemcell_metadata.yml']) {
    const path = join(dirname(imagePath), name);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return parseStemcellManifest(text);
  }
  return undefined;
}
