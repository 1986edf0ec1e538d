import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  backfillDefaultDns,
  defaultNetwork,
  gardenNetworkFor,
  netmaskToPrefix,
  networksSchema,
  parseResolvConfNameservers,
} from '../../src/vms/networks';

describe('networks', () => {
  it('picks the network that is default for gateway, else the first', () => {
    const networks = networksSchema.parse({
      a: { type: 'manual', ip: '10.0.0.5', netmask: '255.255.255.0' },
      b: { type: 'manual', ip: '10.1.0.5', netmask: '255.255.0.0', default: ['dns', 'gateway'] },
    });
    assert.equal(defaultNetwork(networks).name, 'b');
    assert.equal(defaultNetwork({ only: { type: 'dynamic' } }).name, 'only');
    assert.throws(() => defaultNetwork({}), /Expected exactly one network; received zero/);
  });

  it('sends ip/prefix from the netmask, not the Director prefix "32"; "" for dynamic', () => {
    assert.equal(gardenNetworkFor('n', { type: 'manual', ip: '10.244.0.34', netmask: '255.255.255.0', prefix: '32' }), '10.244.0.34/24');
    assert.equal(gardenNetworkFor('n', { type: 'dynamic' }), '');
    assert.equal(gardenNetworkFor('n', { ip: '10.244.0.34', prefix: '22' }), '10.244.0.34/22');
    assert.equal(gardenNetworkFor('n', { ip: '10.244.0.34', prefix: '32' }), '10.244.0.34');
    assert.throws(() => gardenNetworkFor('n', { type: 'manual' }), /Network 'n' has no 'ip'/);
    assert.throws(() => gardenNetworkFor('n', { type: 'vip', ip: '1.2.3.4' }), /vip network/);
  });

  it('converts netmasks and rejects bad ones', () => {
    assert.equal(netmaskToPrefix('255.255.255.0'), 24);
    assert.equal(netmaskToPrefix('255.255.252.0'), 22);
    assert.equal(netmaskToPrefix('255.255.255.255'), 32);
    assert.equal(netmaskToPrefix('0.0.0.0'), 0);
    assert.throws(() => netmaskToPrefix('255.0.255.0'), /not contiguous/);
    assert.throws(() => netmaskToPrefix('255.255.255'), /Invalid netmask/);
  });

  it('backfills DNS only into the dns-default network that has none (as upstream)', () => {
    const networks = { a: { default: ['dns', 'gateway'] }, b: { dns: [] } };
    const filled = backfillDefaultDns(networks, ['192.0.2.53']);
    assert.deepEqual(filled.a?.dns, ['192.0.2.53']);
    assert.equal(filled.b?.dns?.length, 0);
    assert.equal(networks.a.default.length, 2, 'input untouched');
    const kept = backfillDefaultDns({ a: { default: ['dns'], dns: ['8.8.8.8'] } }, ['192.0.2.53']);
    assert.deepEqual(kept.a?.dns, ['8.8.8.8']);
  });

  it('reads nameservers from resolv.conf', () => {
    const text = '# comment\nsearch example.org\nnameserver 192.0.2.1\n  nameserver\t192.0.2.2 \noptions ndots:1\n';
    assert.deepEqual(parseResolvConfNameservers(text), ['192.0.2.1', '192.0.2.2']);
  });
});
