import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createFileLocks } from '../src/host/file-lock';
import { silentLogger } from '../src/log/logger';
import { createStemcellImporter } from '../src/stemcells/stemcell-importer';
import { expandImage, gunzipImage, type GunzipStrategy } from '../src/stemcells/image-unpacker';
import { goProgram } from '../testkit/go-program';
import { formatRow, median } from './bench-utils';

/**
 * create_stemcell through the bundle versus the plain tools it replaces and the upstream Go CPI's own step
 * (tools/bench/go-gunzip), on a generated stemcell-sized image (>= 200 MiB, >= 20,000 entries, content
 * that gzip has to work for). Medians of interleaved runs.
 */
export interface StemcellImportBench {
  image: { entries: number; uncompressedMiB: number; gzipMiB: number };
  runs: number;
  rows: { name: string; medianS: number; peakRssMiB: number }[];
  /** create_stemcell (gunzip) over: GNU gunzip, upstream's step, Go's compress/gzip (medians). */
  ratios: { expand: number; gunzip: number; upstream: number; goInProcess: number };
  dedupS: number;
  /** The dedup import itself (createStemcellImporter in this process), without the bundle's start-up. */
  dedupInProcessS: number;
  /** In-process medians (s) of each inflate strategy, per mode: the choice of the default. */
  strategies: Record<'gunzip' | 'expand', Record<GunzipStrategy, number>>;
}

const BUNDLE = resolve(__dirname, '../dist/cpi.js');
const UPSTREAM_ROW = 'upstream Go (copy, gunzip)';
const GO_IN_PROCESS_ROW = 'Go compress/gzip > file';

/** Wall time and peak RSS (largest process of the tree, GNU time's %M) of one command run to exit. */
let measureCount = 0;
function measure(command: string, args: string[], input = ''): Promise<{ seconds: number; rssMiB: number; stdout: string }> {
  const timingFile = join(tmpdir(), `bench-time-${process.pid}-${(measureCount += 1)}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timingFile, command, ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const started = process.hrtime.bigint();
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      void readFile(timingFile, 'utf8')
        .then(async (timing) => {
          await rm(timingFile, { force: true });
          const kb = Number(timing.trim().split(/\s+/).pop());
          if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}: ${stdout.slice(0, 500)}`));
          else resolvePromise({ seconds, rssMiB: kb / 1024, stdout });
        })
        .catch(reject);
    });
    child.stdin.on('error', () => undefined); // tools that never read stdin close it early
    child.stdin.end(input);
  });
}

function sha1OfFile(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha1');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

/** Half random bytes, half repetitive text: gzip -6 shrinks it to roughly 55%, like a real rootfs's mix. */
function fileContent(size: number): Buffer {
  const half = Math.floor(size / 2);
  const text = Buffer.from(`export PATH=/var/vcap/bosh/bin:$PATH # ${size}\n`.repeat(Math.ceil(half / 40))).subarray(0, size - half);
  return Buffer.concat([randomBytes(half), text]);
}

async function generateImage(dir: string): Promise<{ image: string; entries: number; bytes: number }> {
  const rootfs = join(dir, 'rootfs');
  let entries = 0;
  let bytes = 0;
  const dirs = 400;
  for (let d = 0; d < dirs; d += 1) {
    await mkdir(join(rootfs, `usr/lib/pkg-${d}`), { recursive: true });
    entries += 1;
    for (let f = 0; f < 55; f += 1) {
      // Sizes from 512 B to ~40 KiB, plus one large file per directory, as binaries and libraries mix.
      const size = f === 0 ? 180 * 1024 : 512 + ((d * 7919 + f * 104729) % (18 * 1024));
      await writeFile(join(rootfs, `usr/lib/pkg-${d}/file-${f}`), fileContent(size));
      entries += 1;
      bytes += size;
    }
    await symlink(`file-1`, join(rootfs, `usr/lib/pkg-${d}/link`));
    await link(join(rootfs, `usr/lib/pkg-${d}/file-2`), join(rootfs, `usr/lib/pkg-${d}/hardlink`));
    entries += 2;
  }
  const image = join(dir, 'image');
  await new Promise<void>((resolvePromise, reject) =>
    spawn('tar', ['-czf', image, '-C', rootfs, '.'], { stdio: 'ignore' }).once('close', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`tar ${code}`)),
    ),
  );
  await rm(rootfs, { recursive: true, force: true });
  return { image, entries, bytes };
}

export async function benchStemcellImport(options: { runs?: number; bundle?: string } = {}): Promise<StemcellImportBench> {
  const runs = options.runs ?? 5;
  const bundle = options.bundle ?? BUNDLE;
  // The upstream warden CPI's gunzip-mode step in Go (standard library only): the baseline.
  const built = await goProgram('tools/bench/go-gunzip', '.');
  if ('missing' in built) throw new Error(`the Go baseline (tools/bench/go-gunzip) needs ${built.missing}`);
  const goGunzip = built.binary;
  const root = await mkdtemp(join(tmpdir(), 'bench-stemcell-'));
  try {
    const { image, entries, bytes } = await generateImage(join(root, 'source'));
    const gzipBytes = (await stat(image)).size;
    await writeFile(
      join(root, 'source', 'stemcell.MF'),
      `name: bench\nversion: '1'\nsha1: ${await sha1OfFile(image)}\noperating_system: ubuntu-noble\nstemcell_formats:\n- warden-tar\n`,
    );
    const request = JSON.stringify({ method: 'create_stemcell', arguments: [image, null], context: { director_uuid: 'bench', request_id: 'bench' } });
    const badRequest = JSON.stringify({ method: 'create_stemcell', arguments: [], context: { director_uuid: 'bench', request_id: 'bench' } });
    const config = async (name: string, expand: boolean) => {
      const path = join(root, `${name}.json`);
      await writeFile(
        path,
        JSON.stringify({
          warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
          actions: { stemcells_dir: join(root, name, 'stemcells'), state_dir: join(root, name, 'state'), expand_stemcell_tarball: expand },
          agent: { mbus: 'nats://10.254.50.4:4222' },
        }),
      );
      return path;
    };
    const expandConfig = await config('expand', true);
    const gunzipConfig = await config('gunzip', false);
    const samples: Record<string, { seconds: number[]; rss: number[] }> = {};
    const record = (name: string, result: { seconds: number; rssMiB: number }) => {
      samples[name] ??= { seconds: [], rss: [] };
      samples[name].seconds.push(result.seconds);
      samples[name].rss.push(result.rssMiB);
    };
    const reset = async () => {
      for (const name of ['expand', 'gunzip', 'tar-out', 'gunzip-out']) await rm(join(root, name), { recursive: true, force: true });
      await mkdir(join(root, 'tar-out'));
      await mkdir(join(root, 'gunzip-out'));
      await new Promise((resolvePromise) => spawn('sync').once('close', resolvePromise));
    };
    const dedupInProcess: number[] = [];
    const strategies = {
      gunzip: { 'gzip-child': [] as number[], zlib: [] as number[] },
      expand: { 'gzip-child': [] as number[], zlib: [] as number[] },
    };
    for (let run = 0; run < runs; run += 1) {
      await reset();
      const imported = async (config: string, name: string) => {
        const result = await measure(process.execPath, [bundle, config], request);
        if (!result.stdout.includes('"error":null')) throw new Error(`create_stemcell failed: ${result.stdout}`);
        record(name, result);
      };
      // Alternate who goes first, so neither side always pays for the previous run's writeback.
      const expandPair = [
        async () => record('tar --same-owner -xzf', await measure('tar', ['--same-owner', '-xzf', image, '-C', join(root, 'tar-out')])),
        () => imported(expandConfig, 'create_stemcell (expand)'),
      ];
      const gunzipOut = (name: string) => join(root, 'gunzip-out', name);
      const gunzipGroup = [
        async () => record('gunzip -c > file', await measure('sh', ['-c', `gunzip -c '${image}' > '${gunzipOut('image.tar')}'`])),
        async () => record(UPSTREAM_ROW, await measure(goGunzip, ['-mode', 'upstream', image, gunzipOut('upstream.tar')])),
        async () => record(GO_IN_PROCESS_ROW, await measure(goGunzip, ['-mode', 'in-process', image, gunzipOut('go.tar')])),
        () => imported(gunzipConfig, 'create_stemcell (gunzip)'),
      ];
      for (const step of run % 2 === 0 ? expandPair : [...expandPair].reverse()) await step();
      await imported(expandConfig, 'create_stemcell (dedup, 2nd)');
      // The bundle's own start-up and method-table load, which every create_stemcell pays before any work.
      record('bundle start-up (bad args)', await measure(process.execPath, [bundle, expandConfig], badRequest));
      const started = process.hrtime.bigint();
      await createStemcellImporter({
        stemcellsDir: join(root, 'expand', 'stemcells'),
        stateDir: join(root, 'expand', 'state'),
        newId: randomUUID,
        locks: createFileLocks(join(root, 'expand', 'state', 'locks'), silentLogger),
        expand: true,
      }).importStemcell(image, null, silentLogger);
      dedupInProcess.push(Number(process.hrtime.bigint() - started) / 1e9);
      // Each of the four goes first in turn (rotation), so none always meets the same writeback.
      const shift = run % gunzipGroup.length;
      for (const step of [...gunzipGroup.slice(shift), ...gunzipGroup.slice(0, shift)]) await step();
      for (const strategy of run % 2 === 0 ? (['gzip-child', 'zlib'] as const) : (['zlib', 'gzip-child'] as const)) {
        const file = join(root, 'gunzip-out', `strategy-${strategy}.tar`);
        let started = process.hrtime.bigint();
        await gunzipImage(image, file, { logger: silentLogger, strategy });
        strategies.gunzip[strategy].push(Number(process.hrtime.bigint() - started) / 1e9);
        await rm(file);
        const dir = join(root, 'tar-out', `strategy-${strategy}`);
        await mkdir(dir);
        started = process.hrtime.bigint();
        await expandImage(image, dir, { logger: silentLogger, strategy });
        strategies.expand[strategy].push(Number(process.hrtime.bigint() - started) / 1e9);
        await rm(dir, { recursive: true });
      }
    }
    await reset();
    const rows = Object.entries(samples).map(([name, sample]) => ({ name, medianS: median(sample.seconds), peakRssMiB: Math.max(...sample.rss) }));
    const at = (name: string) => rows.find((row) => row.name === name)?.medianS ?? Number.NaN;
    return {
      image: { entries, uncompressedMiB: bytes / 1048576, gzipMiB: gzipBytes / 1048576 },
      runs,
      rows,
      ratios: {
        expand: at('create_stemcell (expand)') / at('tar --same-owner -xzf'),
        gunzip: at('create_stemcell (gunzip)') / at('gunzip -c > file'),
        upstream: at('create_stemcell (gunzip)') / at(UPSTREAM_ROW),
        goInProcess: at('create_stemcell (gunzip)') / at(GO_IN_PROCESS_ROW),
      },
      dedupS: at('create_stemcell (dedup, 2nd)'),
      dedupInProcessS: median(dedupInProcess),
      strategies: {
        gunzip: { 'gzip-child': median(strategies.gunzip['gzip-child']), zlib: median(strategies.gunzip.zlib) },
        expand: { 'gzip-child': median(strategies.expand['gzip-child']), zlib: median(strategies.expand.zlib) },
      },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export function formatStemcellImportReport(result: StemcellImportBench): string {
  const lines = [
    `## stemcell import (${result.image.entries} entries, ${result.image.uncompressedMiB.toFixed(0)} MiB uncompressed, ${result.image.gzipMiB.toFixed(0)} MiB gzip; ${result.runs} interleaved runs)`,
    formatRow(['', 'median s', 'peak RSS MiB']),
    ...result.rows.map((row) => formatRow([row.name, row.medianS.toFixed(3), row.peakRssMiB.toFixed(1)])),
    `expand ratio vs tar     : ${result.ratios.expand.toFixed(2)}x (target <= 1.15x)`,
    `gunzip ratio vs gunzip  : ${result.ratios.gunzip.toFixed(2)}x (target <= 1.15x)`,
    `gunzip ratio vs upstream: ${result.ratios.upstream.toFixed(2)}x (target <= 1.0x; upstream 45.2.x copies the image, then runs GNU gunzip)`,
    `gunzip ratio vs Go gzip : ${result.ratios.goInProcess.toFixed(2)}x (Go's compress/gzip in-process, io.Copy to the file)`,
    `dedup import            : ${result.dedupS.toFixed(3)} s through the bundle (target < 0.3 s); ${(result.dedupInProcessS * 1000).toFixed(1)} ms in-process`,
    `peak RSS of the CPI     : ${Math.max(...result.rows.filter((row) => row.name.startsWith('create_stemcell')).map((row) => row.peakRssMiB)).toFixed(1)} MiB (target < 120 MiB)`,
    ...(['gunzip', 'expand'] as const).map(
      (mode) =>
        `${mode} inflate strategies (in-process, median s): GNU gzip child ${result.strategies[mode]['gzip-child'].toFixed(3)}, Node zlib ${result.strategies[mode].zlib.toFixed(3)} (default: ${mode === 'expand' ? 'gzip child' : 'Node zlib'})`,
    ),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  void benchStemcellImport({ runs: Number(process.env.BENCH_RUNS ?? 5) })
    .then((result) => console.log(formatStemcellImportReport(result)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
