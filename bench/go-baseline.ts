import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { cachedFixture } from '../testkit/rootfs';

const run = promisify(execFile);
const SOURCE_DIR = resolve(__dirname, '../tools/bench/go-gunzip');
const GO = '/usr/local/go/bin/go';

/**
 * Builds tools/bench/go-gunzip (the upstream warden CPI's gunzip-mode step in Go, standard library only)
 * once into `.cache/fixtures/go-gunzip-<key>/go-gunzip`, keyed by its sources and `go version`; returns
 * the binary's path. Throws when Go is missing: the bench has no upstream baseline without it.
 */
export async function goGunzipBinary(): Promise<string> {
  const env = { ...process.env, GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '-mod=readonly', CGO_ENABLED: '0' };
  const { stdout: version } = await run(GO, ['version'], { env }).catch((error: unknown) => {
    throw new Error(`the Go baseline needs Go at ${GO}: ${(error as Error).message}`);
  });
  const hash = createHash('sha256').update(version);
  for (const name of (await readdir(SOURCE_DIR)).sort()) hash.update(name).update(await readFile(join(SOURCE_DIR, name)));
  const dir = await cachedFixture(`go-gunzip-${hash.digest('hex').slice(0, 16)}`, async (out) => {
    await run(GO, ['build', '-trimpath', '-o', join(out, 'go-gunzip'), '.'], { cwd: SOURCE_DIR, env });
  });
  return join(dir, 'go-gunzip');
}
