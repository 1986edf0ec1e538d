import { spawnSync } from 'node:child_process';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChrootSandbox } from './chroot-sandbox';
import { InstalledRelease, installRelease, installReleaseInSandbox } from './install-release';
import { assertRubyAvailable, boshLiteProperties, repoDir } from './release-fixtures';

// The job's rendered bin/cpi, run the way the Director and `bosh create-env` run it, against installed
// packages: warden_cpi built by its real packaging script from `npm run build`'s bundle, and garden-cpi-node
// stood in for by this machine's node. The answer to `info` proves the whole chain:
// bin/cpi -> (sudo) -> package launcher -> node -> bundle -> rendered config.

const infoRequest = JSON.stringify({ method: 'info', arguments: [], context: { director_uuid: 'uuid-1' }, api_version: 2 });
const bundle = join(repoDir, 'dist', 'cpi.js');

function assertInfoResponse(stdout: string): void {
  const response = JSON.parse(stdout) as { result: { api_version: number; stemcell_formats: string[] }; error: unknown; log: unknown };
  assert.deepEqual(Object.keys(response).sort(), ['error', 'log', 'result']);
  assert.equal(response.result.api_version, 2);
  assert.ok(response.result.stemcell_formats.includes('warden-tar'), 'warden-tar');
  assert.ok(response.result.stemcell_formats.includes('general-tar'), 'general-tar');
  assert.equal(response.error, null);
  assert.equal(typeof response.log, 'string');
}

describe('the rendered bin/cpi', () => {
  before(async () => {
    assertRubyAvailable();
    await access(bundle).catch(() => {
      throw new Error(`${bundle} is missing: run 'npm run build' first`);
    });
  });

  describe('under bosh create-env (BOSH_PACKAGES_DIR and BOSH_JOBS_DIR, isolated environment)', () => {
    let base = '';
    let installed: InstalledRelease;
    before(async () => {
      base = await mkdtemp(join(tmpdir(), 'garden-cpi-launcher-'));
      installed = await installRelease(base, boshLiteProperties);
    });
    after(async () => {
      await rm(base, { recursive: true, force: true });
    });

    it('answers info with one JSON document on stdout', () => {
      // Exactly the environment bosh-cli's cpiCmdRunner gives the CPI.
      assert.equal(installed.cpiPath, join(base, 'jobs', 'warden_cpi', 'bin', 'cpi'));
      const run = spawnSync(installed.cpiPath, [], { input: infoRequest, encoding: 'utf8', env: installed.env });
      assert.equal(run.status, 0, run.stderr);
      assertInfoResponse(run.stdout);
    });
  });

  describe('on a Director (default /var/vcap paths, in a chroot)', () => {
    let sandbox: ChrootSandbox;
    before(async () => {
      sandbox = await ChrootSandbox.create({ sbin: 'host' });
      await installReleaseInSandbox(sandbox, boshLiteProperties);
      // As bin/cpi_ctl start leaves them: the dir root's, the log file vcap's.
      await mkdir(sandbox.path('var/vcap/sys/log/warden_cpi'), { recursive: true });
      await sandbox.write('var/vcap/sys/log/warden_cpi/cpi.stderr.log', '', 0o644);
      await chown(sandbox.path('var/vcap/sys/log/warden_cpi/cpi.stderr.log'), 1000, 1000);
      // A stand-in sudo that records its arguments and runs the command (as the caller: no real root here).
      await sandbox.write(
        'tmp/fakebin/sudo',
        '#!/bin/sh\necho "$*" >>/tmp/sudo.log\n[ "$1" = -n ] && shift\n[ "$1" = -- ] && shift\nexec "$@"\n',
        0o755,
      );
      await sandbox.write('tmp/sudo.log', '', 0o666);
      await chmod(sandbox.path('tmp'), 0o1777);
    });
    after(async () => {
      await sandbox?.destroy();
    });

    it('answers info as root, with its stderr appended to the job log file', async () => {
      const run = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi'], { input: infoRequest, env: { PATH: '/usr/bin:/bin' } });
      assert.equal(run.status, 0, run.stderr);
      assertInfoResponse(run.stdout);
      assert.equal(run.stderr, '', 'stderr goes to /var/vcap/sys/log/warden_cpi/cpi.stderr.log');
      await access(sandbox.path('var/vcap/sys/log/warden_cpi/cpi.stderr.log'));
      assert.equal(await readFile(sandbox.path('tmp/sudo.log'), 'utf8'), '', 'root does not go through sudo');
    });

    it('goes through sudo to the package launcher when called as vcap', async () => {
      const run = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi'], {
        input: infoRequest,
        user: '1000:1000',
        env: { PATH: '/tmp/fakebin:/usr/bin:/bin' },
      });
      assert.equal(run.status, 0, run.stderr);
      assertInfoResponse(run.stdout);
      assert.equal(
        await readFile(sandbox.path('tmp/sudo.log'), 'utf8'),
        '-n -- /var/vcap/packages/warden_cpi/bin/cpi /var/vcap/jobs/warden_cpi/config/cpi.json\n',
      );
    });
  });
});
