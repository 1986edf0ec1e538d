import { Transform, type TransformCallback } from 'node:stream';

/**
 * Checks that a byte stream is one whole tar archive while it flows past, in constant memory: every header's
 * checksum and size field, data of exactly the declared length, and the two zero blocks that end an archive
 * (after them only zero padding). Data is never copied or inspected: the walker reads headers and skips.
 *
 * Formats: ustar and GNU (base-256 sizes, `L`/`K` long names, old `S` sparse files with extension headers)
 * and POSIX pax (`x` records, whose `size=` overrides the next entry's size). Link, device, directory and
 * fifo entries carry no data, whatever their size field says (POSIX; GNU tar reads them so).
 */

const BLOCK = 512;
/** A pax extended header larger than this is not a stemcell's (it would be buffered). */
const MAX_PAX_BYTES = 1024 * 1024;
const NO_DATA_TYPES = new Set(['1', '2', '3', '4', '5', '6']);

export class TarStructureError extends Error {
  override name = 'TarStructureError';
}

function isZeroBlock(block: Buffer): boolean {
  for (let index = 0; index < BLOCK; index += 1) if (block[index] !== 0) return false;
  return true;
}

function field(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('latin1', start, end === -1 || end > start + length ? start + length : end);
}

/** An octal number field (NUL/space padded), or base-256 when its first byte has the high bit (GNU). */
function numberField(block: Buffer, start: number, length: number): number | undefined {
  if ((block[start]! & 0x80) !== 0) {
    let value = block[start]! & 0x7f;
    for (let index = start + 1; index < start + length; index += 1) value = value * 256 + block[index]!;
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const text = field(block, start, length).trim();
  if (!/^[0-7]*$/.test(text)) return undefined;
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** The header checksum: the sum of its bytes with the checksum field read as spaces (unsigned or signed). */
function checksumMatches(block: Buffer): boolean {
  const stored = numberField(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK; index += 1) {
    const byte = index >= 148 && index < 156 ? 0x20 : block[index]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored !== undefined && (stored === unsigned || stored === signed);
}

function entryName(block: Buffer): string {
  const prefix = block.toString('latin1', 257, 263).startsWith('ustar') ? field(block, 345, 155) : '';
  const name = field(block, 0, 100);
  return prefix ? `${prefix}/${name}` : name;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Walks a tar archive chunk by chunk: `update` for every chunk in order, `finish` at the end. */
export class TarWalker {
  /** Entries seen (pax and long-name headers not counted). */
  entries = 0;
  private offset = 0;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Bytes of data (and padding) still to skip before the next header. */
  private skip = 0;
  private zeroBlocks = 0;
  private ended = false;
  /** Old GNU sparse: extension headers still to come, then this much data. */
  private sparseExtension: number | undefined;
  private pax: { chunks: Buffer[]; length: number; size: number } | undefined;
  private paxSize: number | undefined;
  private current = '';

  private fail(detail: string): never {
    throw new TarStructureError(detail);
  }

  update(chunk: Buffer): void {
    let position = 0;
    while (position < chunk.length) {
      if (this.ended) {
        for (let index = position; index < chunk.length; index += 1) {
          if (chunk[index] !== 0) this.fail(`data after the end-of-archive blocks at byte ${this.offset + index - position}`);
        }
        this.offset += chunk.length - position;
        return;
      }
      if (this.skip > 0) {
        const take = Math.min(this.skip, chunk.length - position);
        if (this.pax !== undefined && this.pax.length < this.pax.size) {
          const wanted = Math.min(take, this.pax.size - this.pax.length);
          this.pax.chunks.push(Buffer.from(chunk.subarray(position, position + wanted)));
          this.pax.length += wanted;
        }
        this.skip -= take;
        position += take;
        this.offset += take;
        if (this.skip === 0 && this.pax !== undefined) this.readPax();
        continue;
      }
      const take = Math.min(BLOCK - this.headerFill, chunk.length - position);
      chunk.copy(this.header, this.headerFill, position, position + take);
      this.headerFill += take;
      position += take;
      this.offset += take;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.readHeader(this.offset - BLOCK);
      }
    }
  }

  private readHeader(at: number): void {
    const block = this.header;
    if (this.sparseExtension !== undefined) {
      // An old GNU sparse extension header: 21 sparse entries, then `isextended` at byte 504.
      if (block[504] === 0) {
        this.skip = padded(this.sparseExtension);
        this.sparseExtension = undefined;
      }
      return;
    }
    if (isZeroBlock(block)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks === 2) this.ended = true;
      return;
    }
    if (this.zeroBlocks === 1) this.fail(`a lone zero block before the header at byte ${at}`);
    if (!checksumMatches(block))
      this.fail(`bad header checksum at byte ${at} (after ${this.entries} entries${this.current ? `, the last '${this.current}'` : ''})`);
    const declared = numberField(block, 124, 12);
    if (declared === undefined) this.fail(`bad size field in the header at byte ${at}`);
    const type = String.fromCharCode(block[156]!);
    switch (type) {
      case 'x': {
        if (declared > MAX_PAX_BYTES) this.fail(`a pax header of ${declared} bytes at byte ${at}`);
        this.pax = { chunks: [], length: 0, size: declared };
        this.skip = padded(declared);
        if (this.skip === 0) this.readPax();
        return;
      }
      case 'g':
      case 'L':
      case 'K':
        this.skip = padded(declared);
        return;
      default:
        break;
    }
    this.current = entryName(block);
    this.entries += 1;
    const size = NO_DATA_TYPES.has(type) ? 0 : (this.paxSize ?? declared);
    this.paxSize = undefined;
    if (type === 'S' && block[482] !== 0) {
      this.sparseExtension = size;
      return;
    }
    this.skip = padded(size);
  }

  /** `<length> size=<n>\n` records: the next entry's real size (files over 8 GiB). */
  private readPax(): void {
    const text = Buffer.concat(this.pax?.chunks ?? []).toString('utf8');
    this.pax = undefined;
    for (const match of text.matchAll(/(?:^|\n)\d+ size=(\d+)\n/g)) this.paxSize = Number(match[1]);
  }

  /** Throws unless the archive ended with its end-of-archive blocks. */
  finish(): void {
    if (this.ended) return;
    if (this.skip > 0 || this.sparseExtension !== undefined) {
      this.fail(`cut short in the data of '${this.current}' (entry ${this.entries}): ${this.skip} more bytes expected after byte ${this.offset}`);
    }
    if (this.headerFill > 0) this.fail(`cut short in a header at byte ${this.offset - this.headerFill}`);
    this.fail(`no end-of-archive blocks after ${this.entries} entries (${this.offset} bytes): cut short at an entry boundary`);
  }
}

/** A pass-through stream that walks the tar flowing through it and fails the pipeline on a malformed one. */
export function tarStructureCheck(): Transform & { walker: TarWalker } {
  const walker = new TarWalker();
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      try {
        walker.update(chunk);
      } catch (error) {
        done(error as Error);
        return;
      }
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      try {
        walker.finish();
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  return Object.assign(stream, { walker });
}
