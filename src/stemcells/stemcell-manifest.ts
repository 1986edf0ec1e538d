import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';

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

/** The largest stemcell.MF read, in bytes (real ones are under 1 KiB); a larger one is ignored. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * The text of `path` if it is a regular file of at most MAX_MANIFEST_BYTES, else undefined. Opened with
 * O_NOFOLLOW (a symlink, e.g. to /dev/zero, is not followed) and O_NONBLOCK (opening a FIFO never waits
 * for a writer), then checked with fstat before a byte is read, so a hostile manifest costs no time and
 * at most 1 MiB of memory.
 */
async function readSmallRegularFile(path: string): Promise<string | undefined> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_MANIFEST_BYTES) return undefined;
    // One byte more than fstat said, to notice a file that grows while it is read.
    const buffer = Buffer.alloc(info.size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > info.size) return undefined;
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Reads the manifest beside the image. A missing or unreadable manifest, and one that is not a small
 * regular file (a symlink, a FIFO, a device, over 1 MiB), is not an error: undefined, as if absent.
 */
export async function readStemcellManifest(imagePath: string): Promise<StemcellManifest | undefined> {
  for (const name of ['stemcell.MF', 'stemcell_metadata.yml']) {
    const text = await readSmallRegularFile(join(dirname(imagePath), name));
    if (text !== undefined) return parseStemcellManifest(text);
  }
  return undefined;
}
