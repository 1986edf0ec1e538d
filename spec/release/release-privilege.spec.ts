import { execFileSync } from 'node:child_process';
import { access, chown, link, lstat, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChrootSandbox } from './chroot-sandbox';
import { installReleaseInSandbox } from './install-release';
import { assertRubyAvailable, boshLiteProperties, renderTemplate, repoDir } from './release-fixtures';

// The release gives vcap (the Director's workers) no more than the CPI itself: the real sudo with the
// rendered sudoers entry, the rendered bin/cpi and bin/cpi_ctl, run at their absolute paths in a chroot.

const VCAP = '1000:1000';
const CALLER_PATH = '/usr/bin:/bin';

/** A delete_disk that, under a config whose disks_dir is /secret, removes the root-only /secret/important. */
const evilRequest = JSON.stringify({ method: 'delete_disk', arguments: ['important'], context: { director_uuid: 'x' } });
const infoRequest = JSON.stringify({ method: 'info', arguments: [], context: { director_uuid: 'x' } });

/** A config of vcap's making: disks_dir is a root-only dir. */
function evilConfig(): string {
  return JSON.stringify({
    warden: { connect_network: 'tcp', connect_address: '127.0.0.1:1' },
    actions: {
      stemcells_dir: '/home/vcap/store/stemcells',
      disks_dir: '/secret',
      host_ephemeral_bind_mounts_dir: '/home/vcap/store/e',
      host_persistent_bind_mounts_dir: '/home/vcap/store/p',
      state_dir: '/home/vcap/store/state',
    },
    agent: { mbus: 'nats://127.0.0.1:4222' },
  });
}

describe('the release gives vcap no more than the CPI (real sudo, in a chroot)', () => {
  let sandbox: ChrootSandbox;
  before(async () => {
    assertRubyAvailable();
    await access(`${repoDir}/dist/cpi.js`);
    sandbox = await ChrootSandbox.create({ sbin: 'host' });
    await installReleaseInSandbox(sandbox, boshLiteProperties);
    await sandbox.write('var/vcap/data/jobs/warden_cpi/hash-1/config/sudoers', renderTemplate('sudoers.erb', boshLiteProperties), 0o644);
    await sandbox.write('var/vcap/data/jobs/warden_cpi/hash-1/bin/cpi_ctl', renderTemplate('cpi_ctl.erb', boshLiteProperties), 0o755);
    // sudo as on a stemcell: /etc/sudoers including sudoers.d, where bin/cpi_ctl start installs the entry.
    await sandbox.write('etc/sudoers', 'root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n', 0o440);
    await mkdir(sandbox.path('etc/sudoers.d'), { mode: 0o755 });
    // PAM admits everyone: what is allowed is decided by the sudoers policy alone (and -n never asks).
    await sandbox.write('etc/pam.d/sudo', 'auth sufficient pam_permit.so\naccount sufficient pam_permit.so\nsession sufficient pam_permit.so\n');
    await sandbox.write('etc/hosts', '127.0.0.1 localhost\n');
    await mkdir(sandbox.path('dev'), { recursive: true });
    execFileSync('mknod', ['-m', '0666', sandbox.path('dev/null'), 'c', '1', '3']);
    await mkdir(sandbox.path('home/vcap/jobs/warden_cpi/config'), { recursive: true });
    await sandbox.write('home/vcap/evil.json', evilConfig());
    await sandbox.write('home/vcap/jobs/warden_cpi/config/cpi.json', evilConfig());
    execFileSync('chown', ['-R', VCAP, sandbox.path('home/vcap')]);
    await sandbox.write('secret/important', 'root only\n', 0o600);
    await sandbox.write('secret/shadow-like', 'root only\n', 0o600);
    execFileSync('chmod', ['0700', sandbox.path('secret')]);
    await sandbox.write('tmp/fakebin/modprobe', '#!/bin/sh\nexit 0\n', 0o755);
    await mkdir(sandbox.path('var/vcap/sys/run'), { recursive: true });
    await mkdir(sandbox.path('var/vcap/sys/log'), { recursive: true });
    const start = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi_ctl', 'start'], {
      net: true,
      env: { PATH: '/tmp/fakebin:/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    assert.equal(start.status, 0, start.stderr);
  });
  after(async () => {
    await sandbox?.destroy();
  });

  const asVcap = (argv: string[], input: string, env: Record<string, string> = {}) =>
    sandbox.run(argv, { user: VCAP, input, env: { PATH: CALLER_PATH, ...env } });

  it('sudo runs the launcher with the job config for vcap (the entry works)', () => {
    const run = asVcap(['sudo', '-n', '/var/vcap/packages/warden_cpi/bin/cpi', '/var/vcap/jobs/warden_cpi/config/cpi.json'], infoRequest);
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { error: unknown }).error, null);
  });

  for (const [name, args] of [
    ['a config of its own', ['/home/vcap/evil.json']],
    ['no config at all', []],
    ['the job config plus another argument', ['/var/vcap/jobs/warden_cpi/config/cpi.json', '/home/vcap/evil.json']],
    ['the upstream -configPath form', ['-configPath=/home/vcap/evil.json']],
  ] as const) {
    it(`sudo refuses vcap the launcher with ${name}; the root-only file stays`, async () => {
      const run = asVcap(['sudo', '-n', '/var/vcap/packages/warden_cpi/bin/cpi', ...args], evilRequest);
      assert.notEqual(run.status, 0, `sudo ran it: ${run.stdout}`);
      assert.equal(run.stdout, '');
      assert.equal(await readFile(sandbox.path('secret/important'), 'utf8'), 'root only\n');
    });
  }

  it("the job's bin/cpi ignores vcap's BOSH_JOBS_DIR and BOSH_PACKAGES_DIR: root reads only the job's config", async () => {
    const run = asVcap(['/var/vcap/jobs/warden_cpi/bin/cpi'], evilRequest, {
      BOSH_JOBS_DIR: '/home/vcap/jobs',
      BOSH_PACKAGES_DIR: '/home/vcap/packages',
    });
    assert.equal(run.status, 0, run.stderr);
    // The job's own config: disks_dir is the default store, where there is no such disk: success, nothing removed.
    assert.equal((JSON.parse(run.stdout) as { error: unknown }).error, null, run.stdout);
    assert.equal(await readFile(sandbox.path('secret/important'), 'utf8'), 'root only\n');
  });

  it("sudo drops the caller's environment (NODE_OPTIONS) for the launcher", async () => {
    await sandbox.write('home/vcap/hook.js', "require('fs').writeFileSync('/secret/hooked', 'x');\n", 0o644);
    const run = asVcap(['/var/vcap/jobs/warden_cpi/bin/cpi'], infoRequest, { NODE_OPTIONS: '--require=/home/vcap/hook.js' });
    assert.equal(run.status, 0, run.stderr);
    await assert.rejects(access(sandbox.path('secret/hooked')), { code: 'ENOENT' });
  });

  describe('cpi_ctl start (root) never writes through what vcap planted in the run and log dirs', () => {
    const runDir = 'var/vcap/sys/run/warden_cpi';
    const logDir = 'var/vcap/sys/log/warden_cpi';

    /** The dirs as an earlier release (or start) left them: vcap's, so vcap could plant anything. */
    async function handDirsToVcap(): Promise<void> {
      for (const dir of [runDir, logDir]) {
        await rm(sandbox.path(dir), { recursive: true, force: true });
        await mkdir(sandbox.path(dir), { recursive: true });
        await chown(sandbox.path(dir), 1000, 1000);
      }
    }

    function start(): void {
      const result = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi_ctl', 'start'], {
        net: true,
        env: { PATH: '/tmp/fakebin:/usr/sbin:/usr/bin:/sbin:/bin' },
      });
      assert.equal(result.status, 0, result.stderr);
    }

    async function assertDirsAreRoots(): Promise<void> {
      for (const dir of [runDir, logDir]) {
        const info = await lstat(sandbox.path(dir));
        assert.ok(info.isDirectory(), dir);
        assert.equal(info.uid, 0, `${dir} is root's`);
        assert.equal(info.mode & 0o777, 0o755, dir);
      }
      const pid = await lstat(sandbox.path(`${runDir}/cpi.pid`));
      assert.ok(pid.isFile() && pid.uid === 0, 'the pidfile is a file of root');
      assert.equal(await readFile(sandbox.path(`${runDir}/cpi.pid`), 'utf8'), '1\n');
      const log = await lstat(sandbox.path(`${logDir}/cpi.stderr.log`));
      assert.ok(log.isFile() && log.uid === 1000 && log.nlink === 1, 'the log file is a plain file of vcap');
    }

    it('a pidfile symlinked to a root-only file: the file keeps its content', async () => {
      await handDirsToVcap();
      await symlink('/secret/important', sandbox.path(`${runDir}/cpi.pid`));
      start();
      assert.equal(await readFile(sandbox.path('secret/important'), 'utf8'), 'root only\n');
      await assertDirsAreRoots();
    });

    it('a log file symlinked to /etc/nologin: nothing is created there', async () => {
      await handDirsToVcap();
      await symlink('/etc/nologin', sandbox.path(`${logDir}/cpi.stderr.log`));
      start();
      await assert.rejects(lstat(sandbox.path('etc/nologin')), { code: 'ENOENT' });
      await assertDirsAreRoots();
    });

    it('a hard link to a root-only file in the log dir: it stays root-only and root-owned', async () => {
      await handDirsToVcap();
      await link(sandbox.path('secret/shadow-like'), sandbox.path(`${logDir}/cpi.stderr.log`));
      start();
      const secret = await stat(sandbox.path('secret/shadow-like'));
      assert.equal(secret.uid, 0);
      assert.equal(secret.mode & 0o777, 0o600);
      await assertDirsAreRoots();
    });

    it('a log dir that is vcap-writable again is not used by bin/cpi run as root', async () => {
      start();
      await chown(sandbox.path(logDir), 1000, 1000);
      await rm(sandbox.path(`${logDir}/cpi.stderr.log`));
      await symlink('/secret/important', sandbox.path(`${logDir}/cpi.stderr.log`));
      const run = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi'], { input: infoRequest, env: { PATH: CALLER_PATH } });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(await readFile(sandbox.path('secret/important'), 'utf8'), 'root only\n');
      start();
      await assertDirsAreRoots();
    });

    it('vcap still logs through bin/cpi into the file start made', async () => {
      start();
      const run = asVcap(['/var/vcap/jobs/warden_cpi/bin/cpi'], infoRequest, { BOSH_LOG_LEVEL: 'debug' });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.equal((JSON.parse(run.stdout) as { error: unknown }).error, null);
    });
  });
});
