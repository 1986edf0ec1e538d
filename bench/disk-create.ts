import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskImages } from '../src/disks/disk-images';
import { MKFS_EXT4_EXTENDED_OPTIONS } from '../src/disks/ext4-image';
import { createCommandRunner } from '../src/host/command-runner';
import { createHostMounts } from '../src/host/mounts';
import { silentLogger } from '../src/log/logger';
import { formatRow, median } from './bench-utils';

/**
 * create_disk's image making (truncate + mkfs.ext4, the exact service code) with our mkfs options versus
 * mke2fs defaults (what upstream runs), at 1 GiB and 10 GiB; plus the first use of the new disk (mount,
 * write 64 MiB with fsync, unmount) and the space the image takes on the host. Interleaved runs, medians.
 */
export interface DiskCreateRow {
  sizeMiB: number;
  variant: 'chosen' | 'defaults';
  createMs: number;
  firstUseMs: number;
  allocatedMiBAfterCreate: number;
  allocatedMiBAfterFirstUse: number;
}

const VARIANTS = { chosen: MKFS_EXT4_EXTENDED_OPTIONS, defaults: null } as const;

async function allocatedMiB(path: string): Promise<number> {
  return ((await stat(path)).blocks * 512) / (1024 * 1024);
}

async function writeWithFsync(path: string, mib: number): Promise<void> {
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  try {
    for (let i = 0; i < mib; i += 1) await handle.write(chunk);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function benchDiskCreate(runs = 7, sizesMiB: readonly number[] = [1024, 10240]): Promise<DiskCreateRow[]> {
  const root = await mkdtemp(join(tmpdir(), 'bench-disk-create-'));
  const runner = createCommandRunner();
  const mounts = createHostMounts(runner, silentLogger);
  const config = {
    disks_dir: join(root, 'disks'),
    host_persistent_bind_mounts_dir: join(root, 'pbm'),
    guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
    state_dir: join(root, 'state'),
  };
  const samples = new Map<string, { create: number[]; firstUse: number[]; allocCreate: number[]; allocUse: number[] }>();
  const target = join(root, 'mnt');
  await mkdir(target, { recursive: true });
  try {
    for (let run = 0; run < runs; run += 1) {
      for (const sizeMiB of sizesMiB) {
        // Alternate the order so neither variant always runs on a warmer cache.
        const order = (run % 2 === 0 ? ['chosen', 'defaults'] : ['defaults', 'chosen']) as (keyof typeof VARIANTS)[];
        for (const variant of order) {
          const images = createDiskImages({
            config,
            runner,
            newId: () => `${variant}-${sizeMiB}-${run}`,
            logger: silentLogger,
            mkfsExtendedOptions: VARIANTS[variant],
          });
          const key = `${sizeMiB}/${variant}`;
          const entry = samples.get(key) ?? { create: [], firstUse: [], allocCreate: [], allocUse: [] };
          samples.set(key, entry);
          execFileSync('sync');
          let started = process.hrtime.bigint();
          const cid = await images.create(sizeMiB);
          entry.create.push(Number(process.hrtime.bigint() - started) / 1e6);
          const image = join(config.disks_dir, cid);
          entry.allocCreate.push(await allocatedMiB(image));

          started = process.hrtime.bigint();
          await mounts.mountImage(image, target);
          await writeWithFsync(join(target, 'data'), 64);
          await mounts.unmount(target);
          entry.firstUse.push(Number(process.hrtime.bigint() - started) / 1e6);
          entry.allocUse.push(await allocatedMiB(image));
          await images.remove(cid);
        }
      }
    }
  } finally {
    await mounts.unmountRecursive(root).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  return [...samples.entries()].map(([key, entry]) => {
    const [size, variant] = key.split('/') as [string, 'chosen' | 'defaults'];
    return {
      sizeMiB: Number(size),
      variant,
      createMs: median(entry.create),
      firstUseMs: median(entry.firstUse),
      allocatedMiBAfterCreate: median(entry.allocCreate),
      allocatedMiBAfterFirstUse: median(entry.allocUse),
    };
  });
}

export function printDiskCreate(rows: readonly DiskCreateRow[], runs: number): void {
  console.log(`## create_disk image (truncate + mkfs.ext4), ${runs} interleaved runs, medians`);
  console.log(`chosen = -E ${MKFS_EXT4_EXTENDED_OPTIONS}; defaults = mke2fs defaults (upstream)`);
  console.log(formatRow(['size / variant', 'create ms', 'first use ms (64 MiB)', 'MiB alloc (create/use)']));
  for (const row of rows) {
    console.log(
      formatRow([
        `${row.sizeMiB / 1024} GiB ${row.variant}`,
        row.createMs,
        row.firstUseMs,
        `${row.allocatedMiBAfterCreate.toFixed(1)} / ${row.allocatedMiBAfterFirstUse.toFixed(1)}`,
      ]),
    );
  }
  for (const size of new Set(rows.map((row) => row.sizeMiB))) {
    const chosen = rows.find((row) => row.sizeMiB === size && row.variant === 'chosen');
    const defaults = rows.find((row) => row.sizeMiB === size && row.variant === 'defaults');
    if (chosen && defaults) {
      console.log(
        `${size / 1024} GiB chosen/defaults: create ${(chosen.createMs / defaults.createMs).toFixed(2)}x, first use ${(chosen.firstUseMs / defaults.firstUseMs).toFixed(2)}x`,
      );
    }
  }
}

if (require.main === module) {
  const runs = Number(process.env.BENCH_RUNS ?? 7);
  void benchDiskCreate(runs).then(
    (rows) => printDiskCreate(rows, runs),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
