import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { createFileLocks, type Locks } from '../../src/host/file-lock';
import type { Logger } from '../../src/log/logger';

/** One temp dir per test: stemcells_dir, state_dir and the images the test builds. */
export interface StemcellFixture {
  root: string;
  stemcellsDir: string;
  stateDir: string;
  locks: Locks;
  cleanup(): Promise<void>;
}

export async function makeStemcellFixture(): Promise<StemcellFixture> {
  const root = await mkdtemp(join(tmpdir(), 'stemcells-spec-'));
  const stateDir = join(root, 'state');
  return {
    root,
    stemcellsDir: join(root, 'stemcells'),
    stateDir,
    locks: createFileLocks(join(stateDir, 'locks'), { debug() {}, info() {}, warn() {}, error() {} }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

export function sha1File(path: string): string {
  return execFileSync('sha1sum', [path], { encoding: 'utf8' }).split(' ')[0] ?? '';
}

/**
 * A rootfs with everything a stemcell holds that Node cannot make or copy naively: owners, odd modes,
 * absolute and relative symlinks, a hard link, a character and a block device, user.* and
 * security.capability xattrs. Packed with GNU tar (--xattrs) into `<dir>/image`.
 */
export async function buildRootfsImage(dir: string, options: { init?: 'systemd' | 'runit' } = {}): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(join(rootfs, 'sbin'), { recursive: true });
  await mkdir(join(rootfs, 'usr/sbin'), { recursive: true });
  await mkdir(join(rootfs, 'dev'), { recursive: true });
  await mkdir(join(rootfs, 'var/vcap'), { recursive: true });
  await writeFile(join(rootfs, 'etc/hostname'), 'stemcell\n');
  await writeFile(join(rootfs, 'etc/shadow'), 'root:*:1:0:99999:7:::\n');
  await chmod(join(rootfs, 'etc/shadow'), 0o640);
  await chown(join(rootfs, 'etc/shadow'), 0, 42);
  await chown(join(rootfs, 'var/vcap'), 1000, 1000);
  await writeFile(join(rootfs, 'usr/sbin/ping'), 'binary');
  await chmod(join(rootfs, 'usr/sbin/ping'), 0o4755);
  await link(join(rootfs, 'usr/sbin/ping'), join(rootfs, 'usr/sbin/ping-hardlink'));
  await symlink('/usr/share/zoneinfo/UTC', join(rootfs, 'etc/localtime'));
  await symlink('hostname', join(rootfs, 'etc/hostname-link'));
  execFileSync('mknod', ['-m', '0666', join(rootfs, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '0660', join(rootfs, 'dev/loop-fixture'), 'b', '7', '200']);
  execFileSync('setfattr', ['-n', 'user.stemcell', '-v', 'fixture', join(rootfs, 'etc/hostname')]);
  execFileSync('setcap', ['cap_net_raw+ep', join(rootfs, 'usr/sbin/ping')]);
  if (options.init === 'systemd') await symlink('/lib/systemd/systemd', join(rootfs, 'sbin/init'));
  if (options.init === 'runit') await writeFile(join(rootfs, 'usr/sbin/runsvdir-start'), '#!/bin/sh\n');
  const image = join(dir, 'image');
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-czf', image, '-C', rootfs, '.']);
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

/** stemcell.MF beside the image; `sha1: true` writes the image's real sha1. */
export async function writeManifest(
  imagePath: string,
  fields: { sha1?: string | true; os?: string; formats?: string[]; name?: string } = {},
): Promise<void> {
  const lines = [`name: ${fields.name ?? 'bosh-warden-boshlite-ubuntu-noble-go_agent'}`, "version: '1.108'", 'api_version: 3'];
  if (fields.sha1 !== undefined) lines.push(`sha1: ${fields.sha1 === true ? sha1File(imagePath) : fields.sha1}`);
  if (fields.os !== undefined) lines.push(`operating_system: ${fields.os}`);
  lines.push('stemcell_formats:', ...(fields.formats ?? ['warden-tar', 'general-tar']).map((format) => `- ${format}`));
  lines.push('cloud_properties:', '  image_reference: ignored/here');
  await writeFile(join(dirname(imagePath), 'stemcell.MF'), `${lines.join('\n')}\n`);
}

export interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  body?: string;
}

/** A gzipped tar with exactly these headers (tar-stream writes what GNU tar would refuse to create). */
export async function buildRawImage(path: string, entries: RawEntry[]): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const pack = tarStream.pack();
  const written = pipeline(pack, createGzip(), createWriteStream(path));
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = { name: entry.name, type, linkname: entry.linkname, mode: type === 'directory' ? 0o755 : 0o644 };
    if (type === 'file') pack.entry(header, entry.body ?? 'x');
    else pack.entry(header);
  }
  pack.finalize();
  await written;
  return path;
}

/** A gzipped tar of `megabytes` of random data (incompressible, so it takes a while to unpack). */
export async function buildRandomImage(dir: string, megabytes: number): Promise<string> {
  const rootfs = join(dir, 'random-rootfs');
  await mkdir(rootfs, { recursive: true });
  for (let index = 0; index < megabytes; index += 1) await writeFile(join(rootfs, `blob-${index}`), randomBytes(1024 * 1024));
  const image = join(dir, 'image');
  execFileSync('tar', ['-c', '--use-compress-program=gzip -1', '-f', image, '-C', rootfs, '.']);
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

/** Collects log lines so tests can assert on what was logged. */
export function recordingLogger(): Logger & { lines: { level: string; message: string; meta?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8')) as unknown;
}

export function sha1Of(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
