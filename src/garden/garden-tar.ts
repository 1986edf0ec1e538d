import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';

/**
 * Uncompressed tars for Garden's stream_in (gdn pipes the body into `tar -xf -`) and reading
 * stream_out's answer. Entries are streamed one at a time; nothing holds a whole file in memory
 * except in-memory entries, which are already in memory.
 */

export interface InMemoryTarEntry {
  /** Path inside the archive, relative (e.g. "warden-cpi-agent-env.json"). */
  name: string;
  content: string | Buffer;
  /** Default 0o644. gdn extracts with --no-same-permissions, so the umask still applies. */
  mode?: number;
}

export interface DiskTarEntry {
  /** Path inside the archive. */
  name: string;
  /** File on the host to stream in. */
  path: string;
  /** Default: the file's own mode. */
  mode?: number;
}

type PackFiller = (pack: tar.Pack) => Promise<void>;
type EntryHeader = Parameters<tar.Pack['entry']>[0];
type EntrySink = ReturnType<tar.Pack['entry']>;

/** Copies a Node stream into a tar-stream (streamx) entry sink with backpressure. */
async function copyInto(source: Readable, sink: EntrySink): Promise<void> {
  const finished = new Promise<void>((resolve, reject) => {
    sink.once('error', reject);
    sink.once('finish', () => resolve());
  });
  try {
    for await (const chunk of source) {
      if (!sink.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
      }
    }
  } catch (error) {
    sink.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  sink.end(undefined);
  await finished;
}

/** A Node Readable of the archive `fill` writes, honouring backpressure; errors end the stream. */
function packStream(fill: PackFiller): Readable {
  const pack = tar.pack();
  fill(pack).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  // tar-stream v3 streams are streamx streams; Readable.from gives callers (axios) a real Node stream.
  return Readable.from(pack, { objectMode: false });
}

function addBuffer(pack: tar.Pack, header: EntryHeader, content: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, content, (error) => (error ? reject(error) : resolve()));
  });
}

/** A tar of in-memory files (uid/gid 0). */
export function tarFromEntries(entries: readonly InMemoryTarEntry[]): Readable {
  return packStream(async (pack) => {
    for (const entry of entries) {
      const content = Buffer.isBuffer(entry.content) ? entry.content : Buffer.from(entry.content, 'utf8');
      await addBuffer(pack, { name: entry.name, mode: entry.mode ?? 0o644, size: content.length, mtime: new Date(), uid: 0, gid: 0 }, content);
    }
  });
}

/** A tar of host files, each streamed from disk in turn. */
export function tarFromFiles(entries: readonly DiskTarEntry[]): Readable {
  return packStream(async (pack) => {
    for (const entry of entries) {
      const info = await stat(entry.path);
      if (!info.isFile()) throw new Error(`Cannot tar '${entry.path}': not a regular file`);
      const sink = pack.entry({
        name: entry.name,
        mode: entry.mode ?? info.mode & 0o7777,
        size: info.size,
        mtime: info.mtime,
        uid: 0,
        gid: 0,
      });
      await copyInto(createReadStream(entry.path), sink);
    }
  });
}

export interface TarFile {
  name: string;
  mode: number;
  content: Buffer;
}

/**
 * The first regular file of a tar (what Go's CPI reads after stream_out), or undefined for an
 * empty tar (gdn's answer for a missing source). Rejects if the file is over `maxBytes`.
 */
export async function readFirstTarFile(archive: Readable, maxBytes = 16 * 1024 * 1024): Promise<TarFile | undefined> {
  const extract = tar.extract();
  // Feed the archive by hand: tar-stream's streamx Writable is not a Node Writable for pipe().
  const feeding = (async () => {
    for await (const chunk of archive) {
      if (extract.destroyed) return;
      if (!extract.write(chunk as Buffer)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
    }
    extract.end(undefined);
  })();
  feeding.catch((error: unknown) => extract.destroy(error instanceof Error ? error : new Error(String(error))));
  try {
    for await (const entry of extract) {
      if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > maxBytes) throw new Error(`tar entry '${entry.header.name}' is larger than ${maxBytes} bytes`);
        chunks.push(buffer);
      }
      return { name: entry.header.name, mode: entry.header.mode, content: Buffer.concat(chunks) };
    }
    return undefined;
  } finally {
    archive.destroy();
    extract.destroy();
  }
}
