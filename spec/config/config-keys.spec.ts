import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, runCpi } from '../../testkit/cpi-process';

/**
 * Field fault: a misspelt optional key in cpi.json ("disk_dir") used to be dropped without a word, so the
 * CPI quietly used the production default (/var/vcap/store/warden_cpi/disks). Through the built bundle.
 */
describe('cpi.json keys through bin/cpi', () => {
  // Made while the cases below are declared: they name paths inside it.
  const dir = mkdtempSync(join(tmpdir(), 'cpi-config-keys-'));
  after(async () => rm(dir, { recursive: true, force: true }));

  async function answer(name: string, config: unknown, method = 'info', args: unknown[] = []) {
    const path = join(dir, `${name}.json`);
    await writeFile(path, JSON.stringify(config));
    const run = await runCpi(path, request(method, args));
    assert.equal(run.status, 0);
    return { run, path };
  }

  const snake = (actions: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
    actions: { stemcells_dir: join(dir, 'stemcells'), state_dir: join(dir, 'state'), ...actions },
    agent: { mbus: 'nats://nats:nats-password@10.254.50.4:4222' },
    ...extra,
  });
  const pascal = (actions: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    Warden: { ConnectNetwork: 'tcp', ConnectAddress: '127.0.0.1:7777' },
    Actions: { StemcellsDir: join(dir, 'stemcells'), Agent: { Mbus: 'nats://10.254.50.4:4222', NTP: [] }, ...actions },
    ...extra,
  });

  const typos: [string, unknown, RegExp][] = [
    [
      'snake_case disk_dir',
      snake({ disk_dir: join(dir, 'disks') }),
      /: actions\.disk_dir: unknown key "disk_dir", did you mean "disks_dir"\? \(expected one of: stemcells_dir, /,
    ],
    [
      'PascalCase DiskDir',
      pascal({ DiskDir: join(dir, 'disks') }),
      /: Actions\.DiskDir: unknown key "DiskDir", did you mean "DisksDir"\? \(expected one of: StemcellsDir, /,
    ],
    [
      'a top-level typo',
      snake({}, { start_container_with_systemd: true }),
      /: start_container_with_systemd: unknown key "start_container_with_systemd", did you mean "start_containers_with_systemd"\?/,
    ],
    [
      'a nested agent typo (upstream shape)',
      pascal({ Agent: { Mbus: 'nats://x', Ntp: [], BlobStor: {} } }),
      /: Actions\.Agent\.BlobStor: unknown key "BlobStor", did you mean "Blobstore"\?/,
    ],
    [
      'a warden typo',
      snake({}, { warden: { connect_network: 'tcp', connect_addres: 'x' } }),
      /: warden\.connect_addres: unknown key "connect_addres", did you mean "connect_address"\?/,
    ],
  ];
  for (const [name, config, message] of typos) {
    it(`refuses ${name} with its path and the nearest known key, even for info`, async () => {
      const { run } = await answer(name.replace(/\W+/g, '-'), config);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CpiError', run.stdout);
      assert.match(run.response.error?.message ?? '', /^Invalid CPI config '[^']+': /);
      assert.match(run.response.error?.message ?? '', message);
    });
  }

  it('a typo never falls back to the default dirs: has_disk answers an error, not false from /var/vcap/store', async () => {
    const { run } = await answer('has-disk-typo', snake({ disk_dir: join(dir, 'typo-disks') }), 'has_disk', ['some-disk']);
    assert.equal(run.response.error?.type, 'Bosh::Clouds::CpiError', run.stdout);
    assert.match(run.response.error?.message ?? '', /actions\.disk_dir: unknown key/);
  });

  const values: [string, unknown, RegExp][] = [
    [
      'connect_network "tpc"',
      snake({}, { warden: { connect_network: 'tpc', connect_address: 'x' } }),
      /: warden\.connect_network: expected "tcp" or "unix", got "tpc"$/,
    ],
    ['a relative DisksDir', pascal({ DisksDir: 'disks' }), /: Actions\.DisksDir: expected an absolute path, got "disks"$/],
    [
      'ExpandStemcellTarball "false"',
      pascal({ ExpandStemcellTarball: 'false' }),
      /: Actions\.ExpandStemcellTarball: expected true or false, got "false"$/,
    ],
    ['no mbus', snake({}, { agent: { ntp: [] } }), /: agent\.mbus: expected a string, got nothing$/],
    [
      'ntp a string',
      snake({}, { agent: { mbus: 'nats://u:secret-pw@h:4222', ntp: 'pool.ntp.org' } }),
      /: agent\.ntp: expected an array, got "pool\.ntp\.org"$/,
    ],
    ['log_level "verbose"', snake({}, { log_level: 'verbose' }), /: log_level: expected one of "debug", "info", "warn", "error", got "verbose"$/],
  ];
  for (const [name, config, message] of values) {
    it(`says what was expected and what came for ${name}`, async () => {
      const { run } = await answer(name.replace(/\W+/g, '-'), config);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CpiError', run.stdout);
      assert.match(run.response.error?.message ?? '', message);
      assert.doesNotMatch(run.response.error?.message ?? '', /Invalid input/);
    });
  }

  it('accepts by name the keys upstream cpi.json files carry that this CPI does not use', async () => {
    const { run } = await answer(
      'upstream-all-keys',
      pascal(
        {
          ExpandStemcellTarball: false,
          DisksDir: join(dir, 'd'),
          HostEphemeralBindMountsDir: join(dir, 'e'),
          HostPersistentBindMountsDir: join(dir, 'p'),
          GuestEphemeralBindMountPath: '/var/vcap/data',
          GuestPersistentBindMountsDir: '/warden-cpi-dev',
          // Releases before 2023 rendered the blobstore's provider as `Type`, plus the registry settings.
          Agent: { Mbus: 'nats://10.254.50.4:4222', NTP: [], Blobstore: { Type: 'dav', Options: {} } },
          AgentEnvService: 'file',
          Registry: { Host: '', Port: 25777, Username: 'admin', Password: 'admin' },
        },
        { start_containers_with_systemd: true },
      ),
    );
    assert.equal(run.response.error, null, run.stdout);
  });
});
