import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUNDLE, request, runCpi, tempConfig } from '../../testkit/cpi-process';
import { buildRandomImage, buildRootfsImage, writeManifest } from './stemcell-fixture';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pids of processes whose command line mentions `text` (the tar/gzip a killed CPI left running). */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

describe('create_stemcell and delete_stemcell through the bundle', () => {
  let dir: string;
  let configPath: string;
  let stemcellsDir: string;
  before(async () => {
    ({ dir, configPath } = await tempConfig());
    stemcellsDir = join(dir, 'stemcells');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('imports, dedupes and deletes (expand mode)', async () => {
    const image = await buildRootfsImage(join(dir, 'small'), { init: 'systemd' });
    await writeManifest(image, { sha1: true, os: 'ubuntu-noble' });
    const first = await runCpi(configPath, request('create_stemcell', [image, null]));
    assert.equal(first.status, 0);
    assert.equal(first.response.error, null, first.stderr);
    const cid = first.response.result as string;
    assert.equal(await readFile(join(stemcellsDir, cid, 'etc/hostname'), 'utf8'), 'stemcell\n');
    const second = await runCpi(configPath, request('create_stemcell', [image, {}]));
    const cid2 = second.response.result as string;
    assert.equal(await readlink(join(stemcellsDir, cid2)), await readlink(join(stemcellsDir, cid)));
    for (const id of [cid, cid2, cid]) {
      const deleted = await runCpi(configPath, request('delete_stemcell', [id]));
      assert.deepEqual(deleted.response, { result: null, error: null, log: deleted.response.log });
    }
    assert.deepEqual(await readdir(stemcellsDir), []);
    const refused = await runCpi(configPath, request('delete_stemcell', ['../disks']));
    assert.equal(refused.response.error?.type, 'Bosh::Clouds::CpiError');
  });

  it('a CPI killed with SIGKILL mid-import leaves nothing under a cid; the next import cleans up', async () => {
    const image = await buildRandomImage(join(dir, 'big'), 48);
    await writeManifest(image, { sha1: true });
    const child = spawn(process.execPath, [BUNDLE, configPath], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    child.stdin.end(request('create_stemcell', [image, null]));
    // Wait until the import is writing data, then kill it.
    let leftover: string | undefined;
    for (let attempt = 0; attempt < 2000 && leftover === undefined; attempt += 1) {
      const names = await readdir(stemcellsDir).catch(() => [] as string[]);
      const importing = names.find((name) => name.startsWith('.stemcell.import-'));
      if (importing !== undefined && (await readdir(join(stemcellsDir, importing)).catch(() => [])).length > 2) leftover = importing;
      else await sleep(5);
    }
    assert.ok(leftover !== undefined, 'the import never started writing');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    // tar sees EOF on its stdin and exits; wait for it so the cleanup below is not racing it.
    for (let attempt = 0; attempt < 500 && (await processesMentioning(leftover)).length > 0; attempt += 1) await sleep(10);
    assert.deepEqual(
      (await readdir(stemcellsDir)).filter((name) => !name.startsWith('.')),
      [],
      'nothing under a cid',
    );
    assert.ok((await readdir(stemcellsDir)).includes(leftover));

    // The same stemcell again: takes over the dead process's lock, removes its leftover, imports.
    const next = await runCpi(configPath, request('create_stemcell', [image, null]));
    assert.equal(next.response.error, null, next.stderr);
    const cid = next.response.result as string;
    const names = (await readdir(stemcellsDir)).sort();
    assert.equal(names.length, 2, names.join(' '));
    assert.ok(names.includes(cid));
    assert.ok(names.some((name) => name.startsWith('.data-')));
    assert.equal((await stat(join(stemcellsDir, cid, 'blob-0'))).size, 1024 * 1024);
  });

  it('gunzip mode (expand_stemcell_tarball: false): the cid is the plain tar', async () => {
    const gunzip = await tempConfig({});
    try {
      const config = JSON.parse(await readFile(gunzip.configPath, 'utf8')) as { actions: Record<string, unknown> };
      config.actions.expand_stemcell_tarball = false;
      await writeFile(gunzip.configPath, JSON.stringify(config));
      const image = await buildRootfsImage(join(gunzip.dir, 'sc'));
      const run = await runCpi(gunzip.configPath, request('create_stemcell', [image, null]));
      assert.equal(run.response.error, null, run.stderr);
      const tarFile = join(gunzip.dir, 'stemcells', run.response.result as string);
      assert.ok((await stat(tarFile)).isFile());
      assert.equal((await readFile(tarFile)).subarray(257, 262).toString('latin1'), 'ustar');
    } finally {
      await rm(gunzip.dir, { recursive: true, force: true });
    }
  });
});
