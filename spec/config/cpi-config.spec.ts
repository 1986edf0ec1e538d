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

  it('names the failing field', () => {
    assert.throws(() => parseCpiConfig({ ...minimal, agent: {} }), (error: unknown) => error instanceof InvalidConfig && /'agent.mbus'/.test(error.message));
    assert.throws(() => parseCpiConfig({ ...minimal, actions: { disks_dir: 'relative' } }), /'actions.disks_dir': must be an absolute path/);
    assert.throws(() => parseCpiConfig({ ...minimal, warden: { connect_network: 'tcp' } }), /'warden.connect_address'/);
    assert.throws(() => parseCpiConfig([]), /must be a JSON object/);
  });
});
