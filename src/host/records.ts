import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CloudError } from '../errors/cpi-errors';
import { parseJsonText } from '../errors/json-text';
import { describeFirstIssue, type ValidationIssue } from '../errors/validation-message';
import { silentLogger, type Logger } from '../log/logger';
import { sweepDeadWritersTempFiles, tempPathBeside } from './temp-files';

/**
 * The CPI's own records (VM records and creating markers, agent settings, disk metadata, stemcell records):
 * one writer and one reader, so every record is written, read and judged the same way.
 *
 * Writing: a temp file beside the record (temp-files.ts), written and fsynced, renamed over the record, then
 * the directory fsynced. A reader, or a crash at any point, sees the old record or the new one, never half of
 * one, and a record the call reported written survives a power cut. Leftover temp files of writers that were
 * killed are swept from the directory on the next write.
 *
 * Reading, one rule: a missing record is `undefined`; a record that is there but is not a regular file (a
 * symlink is refused, never followed), not valid JSON, or not of its schema is a CloudError naming the file
 * and what is wrong with it, never quoting its text (records hold passwords). Callers that only clean up
 * catch that error and carry on.
 */

/** The part of a zod schema (full zod or zod/mini) the reader uses. */
export interface RecordSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly ValidationIssue[] } };
}

/** Writes `content` to `path` atomically and durably (see above). `mode` applies to the new file. */
export async function writeFileAtomic(path: string, content: string | Buffer, options: { mode?: number; logger?: Logger } = {}): Promise<void> {
  const dir = dirname(path);
  await sweepDeadWritersTempFiles(dir, ['tmp'], options.logger ?? silentLogger);
  const temp = tempPathBeside(path, 'tmp');
  try {
    const handle = await open(temp, 'wx', options.mode ?? 0o640);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dir);
}

/** Writes `value` as one line of JSON with writeFileAtomic. */
export async function writeRecord(path: string, value: unknown, options: { mode?: number; logger?: Logger } = {}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value)}\n`, options);
}

/** fsync of a directory: makes a rename or unlink in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Parses a record's text (read from `where`, e.g. `'<path>'` or `container 'vm-1'`) against `schema`. */
export function parseRecord<T>(text: string, schema: RecordSchema<T>, where: string): T {
  const json = parseJsonText(text);
  if (!json.ok) throw new CloudError(`${where} is not valid JSON (${json.where})`);
  const parsed = schema.safeParse(json.value);
  if (!parsed.success) throw new CloudError(`${where} is invalid: ${describeFirstIssue(parsed.error.issues, json.value)}`);
  return parsed.data;
}

/** Reads and parses a record; undefined when it does not exist (see the rule above). */
export async function readRecord<T>(path: string, schema: RecordSchema<T>): Promise<T | undefined> {
  const text = await readOwnFile(path);
  return text === undefined ? undefined : parseRecord(text, schema, `'${path}'`);
}

/**
 * Reads one of the CPI's own files: it must be a regular file at that very name. A symlink (or a dir, a
 * device, a FIFO) is refused, never followed: the CPI only ever reads what it wrote. Missing: undefined.
 */
export async function readOwnFile(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CloudError(`'${path}' is a symlink, expected a regular file written by the CPI`);
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) throw new CloudError(`'${path}' is not a regular file written by the CPI`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Rewrites one of the CPI's files without replacing its inode: a file bind-mounted into a container keeps
 * showing the inode it was mounted with, so a rename would go unseen (measured on gdn). The new content is
 * padded with trailing newlines to at least the old length and written in one call, then fsynced, so the
 * file is never truncated (a reader never sees it empty or cut short); JSON ignores the trailing whitespace.
 * Refuses anything but a regular file.
 */
export async function rewriteFileInPlace(path: string, content: string): Promise<void> {
  const handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ELOOP') throw new CloudError(`'${path}' is a symlink, expected a regular file written by the CPI`);
    throw error;
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new CloudError(`'${path}' is not a regular file written by the CPI`);
    const bytes = Buffer.from(content);
    const padded = bytes.length >= info.size ? bytes : Buffer.concat([bytes, Buffer.alloc(info.size - bytes.length, 0x0a)]);
    await handle.write(padded, 0, padded.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
