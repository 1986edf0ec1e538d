import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readFirstTarFile, tarFromEntries, tarFromFiles } from '../../src/garden/garden-tar';

const run = promisify(execFile);

describe('garden tar helpers', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'garden-tar-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function extractWithGnuTar(archive: Readable): Promise<string> {
    const tarPath = path.join(dir, 'out.tar');
    await pipeline(archive, createWriteStream(tarPath));
    const target = path.join(dir, 'x');
    await run('mkdir', ['-p', target]);
    await run('tar', ['--no-same-owner', '-xf', tarPath, '-C', target]);
    return target;
  }

  it('builds an uncompressed tar of in-memory files that GNU tar extracts with modes', async () => {
    const target = await extractWithGnuTar(
      tarFromEntries([
        { name: 'warden-cpi-agent-env.json', content: '{"agent_id":"a"}\n', mode: 0o640 },
        { name: 'bin.dat', content: Buffer.from([0, 1, 255]) },
      ]),
    );
    assert.equal(await readFile(path.join(target, 'warden-cpi-agent-env.json'), 'utf8'), '{"agent_id":"a"}\n');
    assert.deepEqual(await readFile(path.join(target, 'bin.dat')), Buffer.from([0, 1, 255]));
    const { stdout } = await run('stat', ['-c', '%a', path.join(target, 'warden-cpi-agent-env.json')]);
    assert.equal(stdout.trim(), '640');
  });

  it('streams files from disk, keeping their mode unless overridden', async () => {
    const a = path.join(dir, 'a.sh');
    const b = path.join(dir, 'b.bin');
    await writeFile(a, '#!/bin/sh\necho hi\n');
    await chmod(a, 0o755);
    await writeFile(b, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    const target = await extractWithGnuTar(
      tarFromFiles([
        { name: 'a.sh', path: a },
        { name: 'sub/b.bin', path: b, mode: 0o600 },
      ]),
    );
    assert.equal((await run('stat', ['-c', '%a', path.join(target, 'a.sh')])).stdout.trim(), '755');
    assert.equal((await run('stat', ['-c', '%a', path.join(target, 'sub/b.bin')])).stdout.trim(), '600');
    assert.deepEqual(await readFile(path.join(target, 'sub/b.bin')), await readFile(b));
  });

  it('fails the stream when a source file is missing', async () => {
    const archive = tarFromFiles([{ name: 'x', path: path.join(dir, 'missing') }]);
    await assert.rejects(pipeline(archive, createWriteStream(path.join(dir, 'o.tar'))), /ENOENT/);
  });

  it('reads the first regular file of a tar, skipping directories', async () => {
    const src = path.join(dir, 'src');
    await run('mkdir', ['-p', path.join(src, 'd')]);
    await writeFile(path.join(src, 'd', 'f.json'), '{"x":1}');
    const { stdout } = await run('tar', ['-cf', '-', '-C', src, 'd'], { encoding: 'buffer' } as never);
    const file = await readFirstTarFile(Readable.from([stdout as unknown as Buffer]));
    assert.equal(file?.name, 'd/f.json');
    assert.equal(file?.content.toString(), '{"x":1}');
  });

  it('gives undefined for an empty tar (gdn streaming out a missing file) and for an empty body', async () => {
    assert.equal(await readFirstTarFile(Readable.from([Buffer.alloc(10240)])), undefined);
    assert.equal(await readFirstTarFile(Readable.from([])), undefined);
  });

  it('refuses a first file above the size cap', async () => {
    await assert.rejects(readFirstTarFile(tarFromEntries([{ name: 'big', content: Buffer.alloc(2048) }]), 1024), /larger than 1024/);
  });
});
