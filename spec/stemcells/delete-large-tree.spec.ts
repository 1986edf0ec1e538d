import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, runCpi, tempConfig, type CpiRun } from '../../testkit/cpi-process';
import { buildRootfsImage, writeManifest } from './stemcell-fixture';

// delete_stemcell of a huge expanded tree runs in constant memory (its speed against `rm -rf` is a benchmark's job).

const DIRS = 200;
const FILES_PER_DIR = 1000; // 200,000 entries

/** DIRS dirs of FILES_PER_DIR empty files each under `root`. */
function populate(root: string): void {
  execFileSync('bash', [
    '-c',
    `set -e; cd "$1"; for d in $(seq ${DIRS}); do mkdir "big-$d"; (cd "big-$d" && seq ${FILES_PER_DIR} | xargs touch); done`,
    'populate',
    root,
  ]);
}

/** Runs one CPI call and samples its peak RSS (VmHWM) until it exits. */
async function callMeasured(configPath: string, method: string, args: unknown[]): Promise<{ run: CpiRun; ms: number; peakKb: number }> {
  const started = Date.now();
  let peakKb = 0;
  let sample: NodeJS.Timeout | undefined;
  try {
    const run = await runCpi(configPath, request(method, args), {
      onSpawn: (child) => {
        sample = setInterval(() => {
          readFile(`/proc/${child.pid}/status`, 'utf8').then(
            (status) => {
              peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
            },
            () => undefined,
          );
        }, 20);
      },
    });
    return { run, ms: Date.now() - started, peakKb };
  } finally {
    clearInterval(sample);
  }
}

describe('delete_stemcell of an expanded tree with 200,000 entries', () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    ({ dir, configPath } = await tempConfig());
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // Time is compared with rm -rf by the benchmark, never asserted here (the machine is shared and noisy).
  it('takes constant memory and removes the whole tree', async () => {
    const image = await buildRootfsImage(join(dir, 'image'));
    await writeManifest(image, { sha1: true });
    const created = await callMeasured(configPath, 'create_stemcell', [image, null]);
    assert.equal(created.run.response.error, null, JSON.stringify(created.run.response));
    const cid = created.run.response.result as string;
    const stemcellsDir = join(dir, 'stemcells');
    const data = join(stemcellsDir, await readlink(join(stemcellsDir, cid)));
    populate(data);

    const deleted = await callMeasured(configPath, 'delete_stemcell', [cid]);
    assert.equal(deleted.run.response.error, null, JSON.stringify(deleted.run.response));
    assert.deepEqual(await readdir(stemcellsDir), []);
    console.log(`delete_stemcell: ${deleted.ms} ms, peak RSS ${Math.round(deleted.peakKb / 1024)} MiB`);
    assert.ok(deleted.peakKb < 120 * 1024, `peak RSS ${deleted.peakKb} KiB`);
  });
});
