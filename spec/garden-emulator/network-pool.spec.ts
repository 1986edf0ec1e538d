import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkPool } from '../../src/garden-emulator/network-pool';

describe('NetworkPool', () => {
  it('hands out /30s in order and reuses a released one', () => {
    const pool = new NetworkPool('10.254.0.0/28');
    const leases = [pool.acquire(''), pool.acquire(''), pool.acquire(''), pool.acquire('')];
    assert.deepEqual(
      leases.map((lease) => lease.subnet),
      ['10.254.0.0/30', '10.254.0.4/30', '10.254.0.8/30', '10.254.0.12/30'],
    );
    assert.throws(() => pool.acquire(''), /insufficient subnets remaining in the pool/);
    pool.release(leases[1]!);
    assert.deepEqual(pool.acquire(''), { subnet: '10.254.0.4/30', containerIp: '10.254.0.6', hostIp: '10.254.0.5' });
  });

  it('shares equal static subnets and runs out of IPs in a full one', () => {
    const pool = new NetworkPool();
    assert.equal(pool.acquire('10.9.0.0/30').containerIp, '10.9.0.2');
    assert.throws(() => pool.acquire('10.9.0.0/30'), /insufficient IPs remaining in the pool/);
    assert.equal(pool.acquire('10.8.0.0/29').containerIp, '10.8.0.2');
    assert.equal(pool.acquire('10.8.0.0/29').containerIp, '10.8.0.3');
    assert.equal(pool.acquire('10.8.0.6/29').containerIp, '10.8.0.6');
  });
});
