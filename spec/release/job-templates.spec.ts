import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpiConfig } from '../../src/config/cpi-config';
import {
  assertRubyAvailable,
  boshLiteProperties,
  createEnvProperties,
  readJobSpec,
  renderTemplate,
  requiredProperties,
  tryRenderTemplate,
} from './release-fixtures';

// The upstream warden_cpi job's properties and defaults (docs/bosh-release.md): a drop-in
// replacement must accept every one of them, with the same defaults.
const upstreamProperties: Record<string, unknown> = {
  'warden_cpi.host_ip': undefined,
  'warden_cpi.loopback_range': undefined,
  'warden_cpi.no_masq_cidrs': ['10.244.0.0/16'],
  'warden_cpi.warden.connect_network': undefined,
  'warden_cpi.warden.connect_address': undefined,
  'warden_cpi.agent.mbus': undefined,
  'warden_cpi.agent.ntp': [],
  'warden_cpi.agent.blobstore.provider': 'dav',
  'warden_cpi.agent.blobstore.options': {},
  'warden_cpi.actions.stemcells_dir': '/var/vcap/store/warden_cpi/stemcells',
  'warden_cpi.actions.expand_stemcell_tarball': true,
  'warden_cpi.actions.disks_dir': '/var/vcap/store/warden_cpi/disks',
  'warden_cpi.actions.host_ephemeral_bind_mounts_dir': '/var/vcap/store/warden_cpi/ephemeral_bind_mounts_dir',
  'warden_cpi.actions.host_persistent_bind_mounts_dir': '/var/vcap/store/warden_cpi/persistent_bind_mounts_dir',
  'warden_cpi.actions.guest_ephemeral_bind_mount_path': '/var/vcap/data',
  'warden_cpi.actions.guest_persistent_bind_mounts_dir': '/warden-cpi-dev',
  'warden_cpi.start_containers_with_systemd': false,
};

function renderConfig(properties: object): unknown {
  return JSON.parse(renderTemplate('cpi.json.erb', properties)) as unknown;
}

function checkSyntax(shell: string, script: string): void {
  const run = spawnSync(shell, ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(run.status, 0, `${shell} -n failed: ${run.stderr}\n${script}`);
}

describe('jobs/warden_cpi templates', () => {
  before(assertRubyAvailable);

  describe('spec', () => {
    it('declares every upstream property with the upstream default', () => {
      const { properties } = readJobSpec();
      for (const [name, upstreamDefault] of Object.entries(upstreamProperties)) {
        assert.ok(properties[name], `missing property ${name}`);
        assert.deepEqual(properties[name]?.default, upstreamDefault, `default of ${name}`);
      }
    });

    it('describes every property', () => {
      for (const [name, definition] of Object.entries(readJobSpec().properties)) {
        assert.ok(definition.description && definition.description.length > 10, `${name} needs a description`);
      }
    });
  });

  describe('config/cpi.json', () => {
    it('renders the defaults into a config that parseCpiConfig accepts', () => {
      const rendered = renderConfig(requiredProperties);
      const config = parseCpiConfig(rendered);
      assert.deepEqual(config.warden, {
        connect_network: 'tcp',
        connect_address: '127.0.0.1:7777',
        garden_init_path: '/var/vcap/packages/guardian/bin/init',
        request_timeout_seconds: 30,
        long_request_timeout_seconds: 600,
      });
      assert.deepEqual(config.actions, {
        stemcells_dir: '/var/vcap/store/warden_cpi/stemcells',
        expand_stemcell_tarball: true,
        disks_dir: '/var/vcap/store/warden_cpi/disks',
        host_ephemeral_bind_mounts_dir: '/var/vcap/store/warden_cpi/ephemeral_bind_mounts_dir',
        host_persistent_bind_mounts_dir: '/var/vcap/store/warden_cpi/persistent_bind_mounts_dir',
        guest_ephemeral_bind_mount_path: '/var/vcap/data',
        guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
        state_dir: '/var/vcap/store/warden_cpi/cpi_state',
      });
      assert.equal(config.agent.mbus, 'nats://nats:nats-password@10.254.50.4:4222');
      assert.deepEqual(config.agent.ntp, []);
      assert.deepEqual(config.agent.blobstore, { provider: 'dav', options: {} });
      assert.equal(config.start_containers_with_systemd, false);
      assert.equal(config.log_level, 'info');
    });

    it("renders BOSH Lite's properties (bosh-lite.yml), null blobstore included", () => {
      const config = parseCpiConfig(renderConfig(boshLiteProperties));
      assert.equal(config.actions.expand_stemcell_tarball, false);
      assert.equal(config.start_containers_with_systemd, true);
      assert.equal(config.agent.mbus, 'nats://10.254.50.4:4222');
      assert.deepEqual(config.agent.blobstore, { provider: 'dav', options: {} });
      assert.equal(config.warden.connect_address, '127.0.0.1:7777');
    });

    it("renders create-env's properties (warden/cpi.yml) with the blobstore options verbatim", () => {
      const config = parseCpiConfig(renderConfig(createEnvProperties));
      assert.deepEqual(config.agent.blobstore, {
        provider: 'local',
        options: { blobstore_path: '/var/vcap/micro_bosh/data/cache' },
      });
      assert.equal(config.agent.mbus, 'https://mbus:mbus-password@0.0.0.0:6868');
    });

    it('renders state_dir and log_level only as set', () => {
      const properties = {
        warden_cpi: {
          ...requiredProperties.warden_cpi,
          actions: { state_dir: '/var/vcap/store/warden_cpi/state' },
          log_level: 'debug',
        },
      };
      const rendered = renderConfig(properties) as { actions: Record<string, unknown> };
      assert.equal(rendered.actions.state_dir, '/var/vcap/store/warden_cpi/state');
      assert.equal(parseCpiConfig(rendered).log_level, 'debug');
      const withoutStateDir = renderConfig(requiredProperties) as { actions: Record<string, unknown> };
      assert.equal('state_dir' in withoutStateDir.actions, false);
    });

    it("renders an empty garden_init_path as null (no init mount), since a null property means 'default'", () => {
      const rendered = renderConfig({
        warden_cpi: {
          ...requiredProperties.warden_cpi,
          warden: { ...requiredProperties.warden_cpi.warden, garden_init_path: '' },
        },
      });
      assert.equal(parseCpiConfig(rendered).warden.garden_init_path, null);
    });

    it('fails to render without a required property, naming it', () => {
      const result = tryRenderTemplate('cpi.json.erb', {
        warden_cpi: { warden: requiredProperties.warden_cpi.warden },
      });
      assert.equal(result.ok, false);
      assert.match(result.error, /warden_cpi\.agent\.mbus/);
    });

    it('is rejected by parseCpiConfig when a property has a bad value', () => {
      const rendered = renderConfig({
        warden_cpi: { ...requiredProperties.warden_cpi, warden: { connect_network: 'udp', connect_address: 'x' } },
      });
      assert.throws(() => parseCpiConfig(rendered), /warden\.connect_network/);
    });
  });

  describe('shell templates', () => {
    const propertySets = {
      defaults: requiredProperties,
      'BOSH Lite': { warden_cpi: { ...boshLiteProperties.warden_cpi, loopback_range: [100, 130] } },
      'no NAT exceptions': { warden_cpi: { ...requiredProperties.warden_cpi, no_masq_cidrs: [] } },
    };
    const shellTemplates = Object.entries(readJobSpecSafely().templates).filter(([, target]) => target.startsWith('bin/'));

    it('include bin/cpi, bin/cpi_ctl, bin/pre-start and bin/garden-init', () => {
      assert.deepEqual(shellTemplates.map(([, target]) => target).sort(), ['bin/cpi', 'bin/cpi_ctl', 'bin/garden-init', 'bin/pre-start']);
    });

    for (const [setName, properties] of Object.entries(propertySets)) {
      for (const [template, target] of shellTemplates) {
        it(`${target} is valid shell (${setName})`, () => {
          const script = renderTemplate(template, properties);
          const shell = script.startsWith('#!/bin/sh') ? 'sh' : 'bash';
          assert.match(script, /^#!(\/bin\/sh|\/usr\/bin\/env bash)\n/);
          checkSyntax(shell, script);
        });
      }
    }

    it('pass shellcheck', (t) => {
      if (spawnSync('shellcheck', ['--version']).error) {
        t.skip('shellcheck not installed (Debian package shellcheck)');
        return;
      }
      for (const [template, target] of shellTemplates) {
        const script = renderTemplate(template, propertySets['BOSH Lite']);
        const check = spawnSync('shellcheck', ['-'], { input: script, encoding: 'utf8' });
        assert.equal(check.status, 0, `${target}:\n${check.stdout}`);
      }
    });

    it('bin/cpi_ctl sets host_ip, loop devices and NAT exceptions only as configured', () => {
      const lite = renderTemplate('cpi_ctl.erb', {
        warden_cpi: { ...boshLiteProperties.warden_cpi, loopback_range: [100, 130] },
      });
      assert.match(lite, /ip addr add "10\.254\.50\.4\/24" dev lo label lo:1/);
      assert.match(lite, /seq 100 130/);
      assert.match(lite, /-s "10\.244\.0\.0\/16" -d "10\.244\.0\.0\/16" -j ACCEPT/);

      const plain = renderTemplate('cpi_ctl.erb', { warden_cpi: { ...requiredProperties.warden_cpi, no_masq_cidrs: [] } });
      assert.doesNotMatch(plain, /ip addr add/);
      assert.doesNotMatch(plain, /seq /);
      assert.doesNotMatch(plain, /iptables -w -t nat -I/);
    });

    it('bin/cpi_ctl refuses values that would be unsafe in a shell script', () => {
      const badValues = [{ host_ip: '10.0.0.1; reboot' }, { no_masq_cidrs: ['10.244.0.0/16 -j DROP'] }, { loopback_range: [130, 100] }];
      for (const bad of badValues) {
        const result = tryRenderTemplate('cpi_ctl.erb', { warden_cpi: { ...requiredProperties.warden_cpi, ...bad } });
        assert.equal(result.ok, false, `rendered with ${JSON.stringify(bad)}`);
        assert.match(result.error, /warden_cpi\.(host_ip|no_masq_cidrs|loopback_range)/);
      }
    });

    it('bin/cpi runs the package launcher with the rendered config, through sudo only when not root', () => {
      const script = renderTemplate('cpi.erb', requiredProperties);
      // As root (create-env): wherever the caller installed the release.
      assert.match(script, /pkgs_dir="\$\{BOSH_PACKAGES_DIR:-\/var\/vcap\/packages\}"/);
      assert.match(script, /jobs_dir="\$\{BOSH_JOBS_DIR:-\/var\/vcap\/jobs\}"/);
      assert.match(script, /cmd=\("\$\{pkgs_dir\}\/warden_cpi\/bin\/cpi" "\$\{jobs_dir\}\/warden_cpi\/config\/cpi\.json"\)/);
      // Through sudo: exactly the command line config/sudoers allows, nothing from the caller's environment.
      assert.match(
        script,
        /\nelse\n(?: {2}#.*\n)* {2}cmd=\(sudo -n -- \/var\/vcap\/packages\/warden_cpi\/bin\/cpi \/var\/vcap\/jobs\/warden_cpi\/config\/cpi\.json\)\n/,
      );
    });
  });

  describe('config/sudoers', () => {
    let dir = '';
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'garden-cpi-sudoers-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('allows vcap exactly the package launcher with the job config, and visudo accepts it', async (t) => {
      const sudoers = renderTemplate('sudoers.erb', requiredProperties);
      const rules = sudoers.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
      assert.deepEqual(rules, [
        'Defaults:vcap !requiretty',
        'Defaults!/var/vcap/packages/warden_cpi/bin/cpi env_reset',
        'vcap ALL=(root) NOPASSWD: /var/vcap/packages/warden_cpi/bin/cpi /var/vcap/jobs/warden_cpi/config/cpi.json',
      ]);
      const visudo = spawnSync('visudo', ['--version'], { encoding: 'utf8' });
      if (visudo.error) {
        t.skip('visudo not installed (Debian package sudo)');
        return;
      }
      const path = join(dir, 'sudoers');
      await writeFile(path, sudoers, { mode: 0o440 });
      const check = spawnSync('visudo', ['-c', '-f', path], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr + check.stdout);
    });
  });
});

/** readJobSpec for describe-time use: a missing ruby surfaces through the before() hook instead. */
function readJobSpecSafely(): { templates: Record<string, string> } {
  try {
    return readJobSpec();
  } catch {
    return { templates: {} };
  }
}
