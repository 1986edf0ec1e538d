import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, stat, statfs } from 'node:fs/promises';
import { Readable, type Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../log/logger';
import { TarStructureError, tarStructureCheck } from './tar-structure';

/** What streaming the image told us: its sha1 and size, measured on the way through. */
export interface UnpackResult {
  sha1: string;
  bytesRead: number;
}

/** Who inflates: GNU gzip as a child (tar -z / gzip -dc) or Node's zlib in-process. */
export type GunzipStrategy = 'gzip-child' | 'zlib';

export interface UnpackOptions {
  logger: Logger;
  /** Progress is logged only for images larger than this (64 MiB) ... */
  progressMinBytes?: number;
  /** ... and at most this often (5 s). */
  progressIntervalMs?: number;
}

/** A failure of the image itself or of the disk, with a cause the operator can act on. */
export class ImageUnpackError extends Error {
  override name = 'ImageUnpackError';
}

const READ_CHUNK = 256 * 1024;
// zlib's output chunk, which is also the unit written to the file. Each chunk is one thread-pool round trip
// for the inflate and one for the write: with 16 KiB chunks a 271 MiB tar took ~17,000 of each (220,000
// futex calls), and create_stemcell (gunzip) 3.55 s against upstream's 1.88 s. Measured with
// bench/stemcell-import.ts (271 MiB tar, 138 MiB gzip, medians of 5 interleaved rounds, 2 shared cores):
// 1 MiB chunks: 1.75 s (0.94x upstream's copy-then-gunzip; Go's compress/gzip in-process: 1.14 s);
// 4 MiB chunks were slower in single runs. Peak RSS of the CPI 95 MiB (87 MiB with 16 KiB chunks; a 1.15 GiB tar:
// 96 MiB), under its 120 MiB budget: zlib's spent chunks are garbage until the next GC.
const ZLIB_CHUNK = 1024 * 1024;
// Expanding, GNU gzip as a child beat Node's zlib through the CPI (2.09 s vs 3.48 s with 16 KiB chunks:
// gzip and tar then run on both cores). Gunzipping to a file, zlib beats the child (in-process, 1 MiB
// chunks: 2.00 s vs 3.03 s): one copy fewer through a pipe.
const DEFAULT_EXPAND_STRATEGY: GunzipStrategy = 'gzip-child';
const DEFAULT_GUNZIP_STRATEGY: GunzipStrategy = 'zlib';
const STDERR_LIMIT = 16 * 1024;
// Director workers may run with a minimal PATH; tar and gzip live in /bin or /usr/bin.
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Counts bytes, hashes them and logs progress while they flow from the image to the unpacker. */
class ImageMeter {
  readonly hash = createHash('sha1');
  bytesRead = 0;
  private lastLog = Date.now();

  constructor(
    private readonly totalBytes: number,
    private readonly options: UnpackOptions,
  ) {}

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytesRead += chunk.length;
    const now = Date.now();
    if (this.totalBytes > (this.options.progressMinBytes ?? 64 * 1024 * 1024) && now - this.lastLog >= (this.options.progressIntervalMs ?? 5000)) {
      this.lastLog = now;
      this.options.logger.info('Importing stemcell image', {
        bytes_read: this.bytesRead,
        bytes_total: this.totalBytes,
        percent: Math.floor((this.bytesRead * 100) / this.totalBytes),
      });
    }
  }
}

/**
 * Reads the image into two fixed buffers, alternating: one is read while the other is being written.
 * No per-chunk allocation, so a 1 GB image does not leave a 1 GB trail of garbage for the GC (peak RSS).
 * A buffer is reused only after its write callback, when the sink no longer holds it. If the sink goes
 * away (the child quit), reading and hashing go on to the end, so the sha1 always covers the whole image;
 * the write error is returned for the caller to weigh against the child's verdict.
 */
async function feedImage(imagePath: string, sink: Writable, meter: ImageMeter): Promise<{ writeError?: unknown }> {
  const handle = await open(imagePath, 'r');
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let writeError: unknown;
  let pending: Promise<void> = Promise.resolve();
  // A sink destroyed mid-write (its pipeline failed: a full disk, a malformed tar) may never call a
  // pending write or end callback back; its 'close' settles the wait instead (seen: a hang on ENOSPC).
  const settled = (resolve: () => void) => {
    const onClose = () => {
      writeError ??= new Error('the writer closed before the image was written');
      resolve();
    };
    sink.once('close', onClose);
    return (error?: Error | null) => {
      sink.off('close', onClose);
      writeError ??= error ?? undefined;
      resolve();
    };
  };
  const write = (chunk: Buffer) => new Promise<void>((resolve) => sink.write(chunk, settled(resolve)));
  try {
    for (let index = 0; ; index += 1) {
      const buffer = buffers[index % 2] ?? Buffer.alloc(0);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      meter.update(chunk);
      await pending;
      if (writeError === undefined && !sink.destroyed) pending = write(chunk);
    }
    await pending;
    if (writeError === undefined && !sink.destroyed) {
      await new Promise<void>((resolve) => {
        const done = settled(resolve);
        sink.once('error', done);
        sink.end(() => done());
      });
    }
  } finally {
    await handle.close();
  }
  return { writeError };
}

/**
 * Inflates into the child's stdin with backpressure. When the child closes its stdin early (GNU tar
 * stops at the end-of-archive blocks) the rest is still inflated and discarded, so zlib checks the
 * whole stream (CRC and length trailer). Resolves with zlib's error, if any.
 */
function inflateInto(gunzip: Transform, stdin: Writable): Promise<unknown> {
  return new Promise((resolve) => {
    let open = true;
    const closed = () => {
      open = false;
      gunzip.resume();
    };
    stdin.once('close', closed);
    stdin.once('error', closed);
    stdin.on('drain', () => gunzip.resume());
    gunzip.on('data', (chunk: Buffer) => {
      if (open && !stdin.write(chunk)) gunzip.pause();
    });
    gunzip.once('end', () => {
      if (open) stdin.end();
      resolve(undefined);
    });
    gunzip.once('error', (error) => {
      stdin.destroy();
      resolve(error);
    });
  });
}

/** The image exists and is a regular file; returns its size. */
export async function checkImageFile(imagePath: string): Promise<number> {
  try {
    const info = await stat(imagePath);
    if (!info.isFile()) throw new ImageUnpackError(`image '${imagePath}' is not a regular file`);
    return info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageUnpackError(`image '${imagePath}' does not exist`);
    throw error;
  }
}

/** Opens the image and checks the gzip magic, so "not gzip" is told apart from a broken download. */
async function openImage(imagePath: string): Promise<number> {
  const size = await checkImageFile(imagePath);
  const handle = await open(imagePath, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    if (bytesRead < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
      throw new ImageUnpackError(`image '${imagePath}' is not a gzip file (${size} bytes, no gzip magic)`);
    }
  } finally {
    await handle.close();
  }
  return size;
}

/** Whether the filesystem holding `path` has (almost) no room left: under 16 MiB free, or no free inode. */
async function filesystemFull(path: string): Promise<boolean> {
  const info = await statfs(path).catch(() => undefined);
  if (info === undefined) return false;
  return info.bavail === 0 || info.bfree * info.bsize < 16 * 1024 * 1024 || info.ffree === 0;
}

/** Turns tar/gzip/zlib complaints into one cause naming the image or the target. */
function describeFailure(imagePath: string, target: string, detail: string): ImageUnpackError {
  const text = detail.trim();
  if (/no space left on device|ENOSPC/i.test(text)) {
    return new ImageUnpackError(`no space left on device while writing '${target}' (${text.split('\n')[0]})`);
  }
  if (/unexpected end of file|unexpected end|Z_BUF_ERROR/i.test(text)) {
    return new ImageUnpackError(`image '${imagePath}' is truncated: the gzip stream ends early`);
  }
  if (/not in gzip format|incorrect header check|invalid (block type|distance|stored|code)|crc error|Z_DATA_ERROR/i.test(text)) {
    return new ImageUnpackError(`image '${imagePath}' is corrupt gzip data: ${text.split('\n')[0]}`);
  }
  if (/does not look like a tar archive|Skipping to next header|Archive contains obsolescent|Unexpected EOF in archive|invalid tar/i.test(text)) {
    return new ImageUnpackError(`image '${imagePath}' does not contain a valid tar archive: ${text.split('\n')[0]}`);
  }
  return new ImageUnpackError(`unpacking '${imagePath}' into '${target}' failed: ${text || 'unknown error'}`);
}

function runChild(command: string, args: string[], stdout: 'ignore' | 'pipe' | number) {
  const child = spawn(command, args, {
    stdio: ['pipe', stdout, 'pipe'],
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SYSTEM_PATH}`, LC_ALL: 'C' },
  });
  const { stdin, stderr: stderrStream } = child;
  if (stdin === null || stderrStream === null) throw new Error(`${command}: no stdio pipes`);
  const output = child.stdout ?? Readable.from([]);
  let stderr = '';
  stderrStream.setEncoding('utf8');
  stderrStream.on('data', (text: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { stdin, stdout: output, exited };
}

/**
 * Streams the image through a child (GNU tar or gzip) fed from Node, so bytes are counted and hashed in
 * the same pass. With `inflateInProcess`, Node's zlib inflates and the child gets the plain tar. A zlib
 * error names the real cause; otherwise the child's verdict wins over the pipe's (EPIPE when it quits early).
 */
async function streamThroughChild(
  imagePath: string,
  target: string,
  child: { command: string; args: string[]; stdout: 'ignore'; inflateInProcess: boolean },
  options: UnpackOptions,
): Promise<UnpackResult> {
  const size = await openImage(imagePath);
  const meter = new ImageMeter(size, options);
  const { stdin, exited } = runChild(child.command, child.args, child.stdout);
  stdin.on('error', () => undefined);
  let inflated: Promise<unknown> = Promise.resolve(undefined);
  let fed: Promise<{ writeError?: unknown }>;
  if (child.inflateInProcess) {
    const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK });
    inflated = inflateInto(gunzip, stdin);
    fed = feedImage(imagePath, gunzip, meter);
  } else {
    fed = feedImage(imagePath, stdin, meter);
  }
  // A read error of the image rejects `fed`; wait for the child anyway so it never outlives the import.
  const [inflateError, feedOutcome, result] = await Promise.all([inflated, fed.catch((error: unknown) => ({ readError: error })), exited]);
  if ('readError' in feedOutcome) throw feedOutcome.readError;
  if (inflateError !== undefined) {
    const code = (inflateError as NodeJS.ErrnoException).code ?? '';
    throw describeFailure(imagePath, target, `${code} ${(inflateError as Error).message}`);
  }
  if (result.code !== 0) {
    const shortWrite = /Wrote only \d+ of \d+ bytes/.exec(result.stderr);
    // GNU tar reports a full disk as a short write, without naming ENOSPC: ask the filesystem.
    if (shortWrite && (await filesystemFull(target))) {
      throw new ImageUnpackError(`no space left on device while writing '${target}' (tar: ${shortWrite[0]})`);
    }
    throw describeFailure(imagePath, target, result.stderr || `${child.command} exited with ${String(result.code ?? result.signal)}`);
  }
  // The child succeeded; a write it refused after it was done (EPIPE) does not matter.
  return { sha1: meter.hash.digest('hex'), bytesRead: meter.bytesRead };
}

/**
 * Expands the image into `targetDir` (which must exist and be empty) exactly as `tar --same-owner -xzf`:
 * owners, modes, links, device nodes and every xattr namespace (file capabilities live in security.*).
 * GNU tar keeps everything inside the target: it refuses `..` members, strips leading '/', and creates
 * symlinks that point outside only after the last member, so no later member can be written through them
 * (each case is tested in spec/stemcells/image-unpacker.spec.ts).
 */
export function expandImage(imagePath: string, targetDir: string, options: UnpackOptions & { strategy?: GunzipStrategy }): Promise<UnpackResult> {
  const inflateInProcess = (options.strategy ?? DEFAULT_EXPAND_STRATEGY) === 'zlib';
  const args = ['--same-owner', '--xattrs', '--xattrs-include=*', inflateInProcess ? '-xf' : '-xzf', '-', '-C', targetDir];
  return streamThroughChild(imagePath, targetDir, { command: 'tar', args, stdout: 'ignore', inflateInProcess }, options);
}

/** A malformed tar found by the walker, named the way the other image failures are. */
function notWholeTar(imagePath: string, error: TarStructureError): ImageUnpackError {
  return new ImageUnpackError(`image '${imagePath}' does not contain a valid tar archive: ${error.message}`);
}

/**
 * Gunzips the image into `targetFile` (created here, must not exist): the plain tar Garden's image plugin
 * consumes. The tar is checked to its end on the way to the file (src/stemcells/tar-structure.ts): a short
 * or malformed archive fails the import, so no half a rootfs is ever handed to Garden. 'zlib' (default)
 * inflates in-process; 'gzip-child' lets `gzip -dc` inflate and its output flows through the same check.
 */
export async function gunzipImage(
  imagePath: string,
  targetFile: string,
  options: UnpackOptions & { strategy?: GunzipStrategy },
): Promise<UnpackResult> {
  const size = await openImage(imagePath);
  const meter = new ImageMeter(size, options);
  const check = tarStructureCheck();
  // Writes as large as zlib's chunks (ZLIB_CHUNK says why); WriteStream batches what queues up into writev.
  const output = createWriteStream(targetFile, { flags: 'wx', mode: 0o644, highWaterMark: ZLIB_CHUNK });
  try {
    if ((options.strategy ?? DEFAULT_GUNZIP_STRATEGY) === 'gzip-child') {
      const child = runChild('gzip', ['-dc'], 'pipe');
      child.stdin.on('error', () => undefined);
      const written = pipeline(child.stdout, check, output).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Both sides run to their end before anything is decided: no read or child outlives the import.
      const [writeError, feedOutcome, result] = await Promise.all([
        written,
        feedImage(imagePath, child.stdin, meter).catch((error: unknown) => ({ readError: error })),
        child.exited,
      ]);
      if ('readError' in feedOutcome) throw feedOutcome.readError;
      // gzip's own complaint names the cause (corrupt, truncated), unless it only lost its reader: then the
      // writing side's error (a malformed tar, a full disk) does.
      const gzipFailure = result.code === 0 ? undefined : result.stderr || `gzip exited with ${String(result.code ?? result.signal)}`;
      // Node's stdio pipes are socket pairs: a closed reader is ECONNRESET to gzip as often as EPIPE.
      const lostReader = result.signal === 'SIGPIPE' || /broken pipe|connection reset/i.test(result.stderr);
      if (gzipFailure !== undefined && !(lostReader && writeError !== undefined)) throw describeFailure(imagePath, targetFile, gzipFailure);
      if (writeError !== undefined) throw writeError;
    } else {
      const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK });
      const written = pipeline(gunzip, check, output).then(
        () => undefined,
        (error: unknown) => error,
      );
      const [writeError, { writeError: feedError }] = await Promise.all([written, feedImage(imagePath, gunzip, meter)]);
      if (writeError !== undefined) throw writeError;
      if (feedError !== undefined) throw feedError;
    }
  } catch (error) {
    if (error instanceof ImageUnpackError) throw error;
    if (error instanceof TarStructureError) throw notWholeTar(imagePath, error);
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw describeFailure(imagePath, targetFile, `${code} ${(error as Error).message}`);
  }
  return { sha1: meter.hash.digest('hex'), bytesRead: meter.bytesRead };
}
