import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChrootSandbox } from './chroot-sandbox';
import { assertRubyAvailable, boshLiteProperties, renderTemplate, requiredProperties } from './release-fixtures';

// The job's host scripts, run for real at their absolute paths inside a throwaway chroot (private mount
// namespace; cpi_ctl also in a private network namespace): bin/garden-init, bin/pre-start, bin/cpi_ctl.

const gardenConfig = (initBin: string): string =>
  ['[server]', '; binaries', `  init-bin = ${initBin}`, '  dadoo-bin = /var/vcap/packages/guardian/bin/dadoo', ''].join('\n');

describe('bin/garden-init (the Garden init wrapper)', () => {
  let sandbox: ChrootSandbox;
  before(async () => {
    assertRubyAvailable();
    sandbox = await ChrootSandbox.create({ sbin: 'own' });
    // Stand-ins for the stemcell's systemd and Garden's real init: each says who it is and its arguments.
    await sandbox.write('tmp/garden-init', renderTemplate('garden-init.erb', requiredProperties), 0o755);
  });
  after(async () => {
    await sandbox?.destroy();
  });

  const runWrapper = (env: Record<string, string>) => sandbox.run(['/tmp/garden-init', 'a', 'b'], { env });

  it('execs the container systemd when BOSH_WARDEN_INIT=systemd, else the mounted Garden init', async () => {
    await sandbox.write('sbin/init', '#!/bin/sh\necho "systemd $*"\n', 0o755);
    await sandbox.write('var/vcap/data/garden-init', '#!/bin/sh\necho "garden-init $*"\n', 0o755);

    assert.equal(runWrapper({ BOSH_WARDEN_INIT: 'systemd' }).stdout, 'systemd a b\n');
    assert.equal(runWrapper({}).stdout, 'garden-init a b\n');
    assert.equal(runWrapper({ BOSH_WARDEN_INIT: 'runit' }).stdout, 'garden-init a b\n');
  });

  it("falls back to Garden's init when systemd is requested but the rootfs has no /sbin/init", async () => {
    await sandbox.write('sbin/init', '', 0o644);
    await sandbox.write('var/vcap/data/garden-init', '#!/bin/sh\necho "garden-init $*"\n', 0o755);
    assert.equal(runWrapper({ BOSH_WARDEN_INIT: 'systemd' }).stdout, 'garden-init a b\n');
  });

  it('fails with a message and status 127 when neither init is there', async () => {
    await sandbox.write('sbin/init', '', 0o644);
    await sandbox.write('var/vcap/data/garden-init', '', 0o644);
    const result = runWrapper({});
    assert.equal(result.status, 127);
    assert.match(result.stderr, /Garden's init is not mounted at \/var\/vcap\/data\/garden-init/);
  });
});

describe('bin/pre-start', () => {
  const wrapperPath = '/var/vcap/data/garden/bin/garden-cpi-init';
  let sandbox: ChrootSandbox;
  before(async () => {
    assertRubyAvailable();
    sandbox = await ChrootSandbox.create({ sbin: 'host' });
  });
  after(async () => {
    await sandbox?.destroy();
  });

  async function installJob(properties: object): Promise<void> {
    await sandbox.write('var/vcap/jobs/warden_cpi/bin/pre-start', renderTemplate('pre-start.erb', properties), 0o755);
    await sandbox.write('var/vcap/jobs/warden_cpi/bin/garden-init', renderTemplate('garden-init.erb', properties), 0o755);
  }

  const preStart = () => sandbox.run(['/var/vcap/jobs/warden_cpi/bin/pre-start']);
  const readGardenConfig = () => readFile(sandbox.path('var/vcap/jobs/garden/config/config.ini'), 'utf8');

  it("installs the wrapper and makes it garden's init-bin, idempotently", async () => {
    await installJob(boshLiteProperties);
    await sandbox.write('var/vcap/jobs/garden/config/config.ini', gardenConfig('/var/vcap/data/garden/bin/init'));

    for (let run = 0; run < 2; run += 1) {
      const result = preStart();
      assert.equal(result.status, 0, result.stderr);
      assert.equal(await readGardenConfig(), gardenConfig(wrapperPath));
    }
    const wrapper = await stat(sandbox.path(wrapperPath));
    assert.equal(wrapper.mode & 0o777, 0o755);
    assert.equal(await readFile(sandbox.path(wrapperPath), 'utf8'), await readFile(sandbox.path('var/vcap/jobs/warden_cpi/bin/garden-init'), 'utf8'));
    assert.ok((await stat(sandbox.path('var/vcap/store/warden_cpi'))).isDirectory());
  });

  it("replaces the upstream CPI's systemd init-bin", async () => {
    await installJob(boshLiteProperties);
    await sandbox.write('var/vcap/jobs/garden/config/config.ini', gardenConfig('/sbin/init'));
    assert.equal(preStart().status, 0);
    assert.equal(await readGardenConfig(), gardenConfig(wrapperPath));
  });

  it("restores Garden's own init when per_vm_init and systemd are off", async () => {
    await installJob({ warden_cpi: { ...requiredProperties.warden_cpi, per_vm_init: false } });
    await sandbox.write('var/vcap/jobs/garden/config/config.ini', gardenConfig(wrapperPath));
    assert.equal(preStart().status, 0);
    assert.equal(await readGardenConfig(), gardenConfig('/var/vcap/data/garden/bin/init'));
  });

  it('leaves Garden alone when no garden job is colocated', async () => {
    const alone = await ChrootSandbox.create({ sbin: 'host' });
    try {
      await alone.write('var/vcap/jobs/warden_cpi/bin/pre-start', renderTemplate('pre-start.erb', requiredProperties), 0o755);
      const result = alone.run(['/var/vcap/jobs/warden_cpi/bin/pre-start']);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /no colocated garden job/);
      assert.ok((await stat(alone.path('var/vcap/store/warden_cpi'))).isDirectory());
    } finally {
      await alone.destroy();
    }
  });
});

describe('bin/cpi_ctl', () => {
  let sandbox: ChrootSandbox;
  before(async () => {
    assertRubyAvailable();
    sandbox = await ChrootSandbox.create({ sbin: 'host' });
    const properties = { warden_cpi: { ...boshLiteProperties.warden_cpi, loopback_range: [100, 102] } };
    await sandbox.write('var/vcap/jobs/warden_cpi/bin/cpi_ctl', renderTemplate('cpi_ctl.erb', properties), 0o755);
    await sandbox.write('var/vcap/jobs/warden_cpi/config/sudoers', renderTemplate('sudoers.erb', properties), 0o644);
    await sandbox.write('etc/sudoers.d/README', '');
    // Record module loads instead of touching the host kernel.
    await sandbox.write('tmp/fakebin/modprobe', '#!/bin/sh\necho "$*" >>/tmp/modprobe.log\n', 0o755);
  });
  after(async () => {
    await sandbox?.destroy();
  });

  it('start prepares the host (loop devices, host_ip, NAT exceptions, sudoers) idempotently; stop undoes sudoers', async () => {
    // Twice, then report the network state from inside the same (private) network namespace.
    const script = [
      'set -e',
      '/var/vcap/jobs/warden_cpi/bin/cpi_ctl start',
      '/var/vcap/jobs/warden_cpi/bin/cpi_ctl start',
      'ip -o -4 addr show dev lo',
      'iptables -w -t nat -S POSTROUTING',
    ].join('\n');
    const started = sandbox.run(['/bin/bash', '-c', script], {
      net: true,
      env: { PATH: '/tmp/fakebin:/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    assert.equal(started.status, 0, started.stderr);
    assert.equal(await readFile(sandbox.path('tmp/modprobe.log'), 'utf8'), '-q overlay\n-q loop\n'.repeat(2));
    assert.match(started.stdout, /inet 10\.254\.50\.4\/24 .*lo:1/);
    const natRules = started.stdout.split('\n').filter((line) => line.startsWith('-A POSTROUTING'));
    assert.deepEqual(natRules, ['-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j ACCEPT']);

    const loopControl = await stat(sandbox.path('dev/loop-control'));
    assert.ok(loopControl.isCharacterDevice());
    assert.equal(loopControl.rdev, (10 << 8) | 237);
    for (const n of [100, 101, 102]) {
      const loop = await stat(sandbox.path(`dev/loop${n}`));
      assert.ok(loop.isBlockDevice(), `/dev/loop${n}`);
      assert.equal(loop.rdev, (7 << 8) | n);
    }

    const sudoers = await stat(sandbox.path('etc/sudoers.d/warden_cpi'));
    assert.equal(sudoers.mode & 0o777, 0o440);
    assert.equal(
      await readFile(sandbox.path('etc/sudoers.d/warden_cpi'), 'utf8'),
      await readFile(sandbox.path('var/vcap/jobs/warden_cpi/config/sudoers'), 'utf8'),
    );
    assert.equal(await readFile(sandbox.path('var/vcap/sys/run/warden_cpi/cpi.pid'), 'utf8'), '1\n');
    const logDir = await stat(sandbox.path('var/vcap/sys/log/warden_cpi'));
    assert.equal(logDir.uid, 0, "the log dir is root's: only root can replace its entries");
    const logFile = await stat(sandbox.path('var/vcap/sys/log/warden_cpi/cpi.stderr.log'));
    assert.equal(logFile.uid, 1000, 'the log file belongs to vcap, which appends to it through bin/cpi');

    const stopped = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi_ctl', 'stop']);
    assert.equal(stopped.status, 0, stopped.stderr);
    await assert.rejects(stat(sandbox.path('etc/sudoers.d/warden_cpi')), { code: 'ENOENT' });
    await assert.rejects(stat(sandbox.path('var/vcap/sys/run/warden_cpi/cpi.pid')), { code: 'ENOENT' });
  });

  it('refuses an unknown action', () => {
    const result = sandbox.run(['/var/vcap/jobs/warden_cpi/bin/cpi_ctl', 'restart']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /Usage: cpi_ctl \{start\|stop\}/);
  });
});
