import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidConfig, parseCpiConfig } from '../../src/config/cpi-config';

const minimal = {
  warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
  actions: {},
  agent: { mbus: 'nats://10.254.50.4:4222' },
};

describe('parseCpiConfig', () => {
  it('fills the upstream job defaults', () => {
    const config = parseCpiConfig(minimal);
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
    assert.deepEqual(config.agent.ntp, []);
    assert.equal(config.start_containers_with_systemd, false);
  });

  it('reads the upstream PascalCase shape, agent nested under Actions, blobstore options verbatim', () => {
    const config = parseCpiConfig({
      Warden: { ConnectNetwork: 'unix', ConnectAddress: '/var/vcap/data/garden/garden.sock' },
      Actions: {
        StemcellsDir: '/s',
        ExpandStemcellTarball: false,
        Agent: { Mbus: 'nats://x', NTP: ['pool.ntp.org'], Blobstore: { Provider: 'dav', Options: { MixedCase: 1 } } },
      },
      start_containers_with_systemd: true,
    });
    assert.equal(config.warden.connect_network, 'unix');
    assert.equal(config.actions.stemcells_dir, '/s');
    assert.equal(config.actions.expand_stemcell_tarball, false);
    assert.equal(config.actions.state_dir, '/cpi_state');
    assert.deepEqual(config.agent.ntp, ['pool.ntp.org']);
    assert.deepEqual(config.agent.blobstore, { provider: 'dav', options: { MixedCase: 1 } });
    assert.equal(config.start_containers_with_systemd, true);
  });

  it('names the failing field with what was expected and what came', () => {
    assert.throws(
      () => parseCpiConfig({ ...minimal, agent: {} }),
      (error: unknown) => error instanceof InvalidConfig && error.message === 'agent.mbus: expected a string, got nothing',
    );
    assert.throws(() => parseCpiConfig({ ...minimal, actions: { disks_dir: 'relative' } }), {
      message: /^actions\.disks_dir: expected an absolute path, got "relative"$/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, warden: { connect_network: 'tcp' } }), {
      message: /^warden\.connect_address: expected a string, got nothing$/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, warden: { connect_network: 'tpc', connect_address: 'x' } }), {
      message: /^warden\.connect_network: expected "tcp" or "unix", got "tpc"$/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, agent: { mbus: 'nats://nats:pw@h:4222', ntp: 'pool.ntp.org' } }), {
      message: /^agent\.ntp: expected an array, got "pool\.ntp\.org"$/,
    });
    assert.throws(() => parseCpiConfig([]), { message: /^\(root\): expected a JSON object, got an array of 0 items$/ });
  });

  it('names bad values of the upstream shape by their upstream spelling', () => {
    const upstream = { Warden: { ConnectNetwork: 'tcp', ConnectAddress: 'x' }, Actions: { Agent: { Mbus: 'nats://x', NTP: [1] } } };
    assert.throws(() => parseCpiConfig(upstream), { message: /^Actions\.Agent\.NTP\[0\]: expected a string, got 1$/ });
    assert.throws(() => parseCpiConfig({ ...upstream, Actions: { Agent: {} } }), {
      message: /^Actions\.Agent\.Mbus: expected a string, got nothing$/,
    });
  });

  it('refuses unknown keys in both shapes with the nearest known key', () => {
    assert.throws(() => parseCpiConfig({ ...minimal, actions: { disk_dir: '/x' } }), {
      message: /^actions\.disk_dir: unknown key "disk_dir", did you mean "disks_dir"\? \(expected one of: stemcells_dir, /,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, log_leve: 'debug' }), {
      message: /^log_leve: unknown key "log_leve", did you mean "log_level"\?/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, warden: { ...minimal.warden, connect_adress: 'y' } }), {
      message: /^warden\.connect_adress: unknown key "connect_adress", did you mean "connect_address"\?/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, agent: { mbus: 'm', blobstore: { provider: 'dav', option: {} } } }), {
      message: /^agent\.blobstore\.option: unknown key "option", did you mean "options"\?/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, nonsense: 1 }), {
      message: /^nonsense: unknown key "nonsense" \(expected one of: warden, actions, agent, start_containers_with_systemd, log_level\)$/,
    });
    const upstream = { Warden: { ConnectNetwork: 'tcp', ConnectAddress: 'x' }, Actions: { DiskDir: '/d', Agent: { Mbus: 'nats://x' } } };
    assert.throws(() => parseCpiConfig(upstream), {
      message: /^Actions\.DiskDir: unknown key "DiskDir", did you mean "DisksDir"\? \(expected one of: StemcellsDir, /,
    });
    assert.throws(() => parseCpiConfig({ ...upstream, Actions: { Agent: { Mbus: 'x', NPT: [] } } }), {
      message: /^Actions\.Agent\.NPT: unknown key "NPT", did you mean "NTP"\?/,
    });
  });

  it('refuses a key given twice in both spellings', () => {
    assert.throws(() => parseCpiConfig({ ...minimal, actions: { disks_dir: '/a', DisksDir: '/b' } }), {
      message: /^actions\.DisksDir: the same key as "actions\.disks_dir"; give it once$/,
    });
    assert.throws(() => parseCpiConfig({ ...minimal, actions: { agent: { mbus: 'x' } } }), {
      message: /^actions\.agent: the agent options are given twice/,
    });
  });

  it('accepts by name every key the upstream cpi.json has carried, using none it does not need', () => {
    const config = parseCpiConfig({
      StartContainersWithSystemD: true,
      Warden: { ConnectNetwork: 'tcp', ConnectAddress: '127.0.0.1:7777' },
      Actions: {
        StemcellsDir: '/s',
        ExpandStemcellTarball: false,
        DisksDir: '/d',
        HostEphemeralBindMountsDir: '/e',
        HostPersistentBindMountsDir: '/p',
        GuestEphemeralBindMountPath: '/var/vcap/data',
        GuestPersistentBindMountsDir: '/warden-cpi-dev',
        Agent: { Mbus: 'nats://x', NTP: [], Blobstore: { Type: 'local', Options: { BlobstorePath: '/b' } } },
        AgentEnvService: 'file',
        Registry: { Host: '', Port: 25777, Username: 'admin', Password: 'admin' },
      },
    });
    assert.equal(config.start_containers_with_systemd, true);
    assert.deepEqual(config.agent.blobstore, { provider: 'local', options: { BlobstorePath: '/b' } });
    assert.equal(config.actions.disks_dir, '/d');
    assert.ok(!('registry' in config.actions) && !('agent_env_service' in config.actions));
  });
});
