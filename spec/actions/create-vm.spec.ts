import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, createVmArgs, type CreateVmDeps } from '../../src/actions/create-vm';
import type { CallContext } from '../../src/actions/call-context';
import { silentLogger } from '../../src/log/logger';
import type { FoundStemcell } from '../../src/stemcells/stemcell-store';
import type { CreateVmRequest, VmCreator } from '../../src/vms/vm-creator';

const network = { default: { type: 'manual', ip: '10.244.0.2', netmask: '255.255.255.0', default: ['dns', 'gateway'] } };

function deps(stemcell: FoundStemcell | undefined, startContainersWithSystemd = false) {
  const requests: CreateVmRequest[] = [];
  const creator = {
    create: async (request: CreateVmRequest) => {
      requests.push(request);
      return { vmCid: 'vm-1', networks: request.networks };
    },
  } satisfies VmCreator;
  const value: CreateVmDeps = { stemcells: { find: async () => stemcell }, creator, startContainersWithSystemd };
  return { value, requests };
}

const call = (apiVersion: 1 | 2): CallContext => ({ apiVersion, requestId: 'cpi-1', logger: silentLogger });

describe('create_vm action', () => {
  it('answers [cid, networks] under v2 and the bare cid under v1', async () => {
    const { value } = deps({ kind: 'path', path: '/sc/1', format: 'dir', init: 'runit' });
    const args = createVmArgs.parse(['agent', 'sc-1', {}, network, [], {}]);
    assert.deepEqual(await createVm(value, args, call(2)), ['vm-1', network]);
    assert.equal(await createVm(value, args, call(1)), 'vm-1');
  });

  it('names an unknown stemcell', async () => {
    const { value, requests } = deps(undefined);
    await assert.rejects(
      createVm(value, createVmArgs.parse(['agent', 'nope', {}, network, [], {}]), call(2)),
      (error: Error & { boshType?: string }) => {
        assert.equal(error.boshType, 'Bosh::Clouds::CloudError');
        assert.match(error.message, /Expected to find stemcell 'nope'/);
        return true;
      },
    );
    assert.equal(requests.length, 0);
  });

  it('names a bad cloud property and ignores unknown ones', async () => {
    const { value, requests } = deps({ kind: 'path', path: '/sc/1', format: 'dir' });
    await assert.rejects(
      createVm(value, createVmArgs.parse(['a', 'sc', { memory_mb: 'lots' }, network, [], {}]), call(2)),
      /cloud_properties\.memory_mb/,
    );
    await assert.rejects(createVm(value, createVmArgs.parse(['a', 'sc', { ports: [{ host: '0' }] }, network, [], {}]), call(2)), /ports\[0\]/);
    await createVm(value, createVmArgs.parse(['a', 'sc', { vm_type_thing: true }, network]), call(2));
    assert.equal(requests.length, 1, 'disk_cids and env may be absent');
  });

  it('chooses the init per VM: the stemcell decides, the global switch only when it cannot', async () => {
    const args = createVmArgs.parse(['a', 'sc', {}, network, [], {}]);
    const systemd = deps({ kind: 'path', path: '/sc/noble', format: 'tar', init: 'systemd' }, false);
    await createVm(systemd.value, args, call(2));
    assert.equal(systemd.requests[0]?.init, 'systemd');
    const runit = deps({ kind: 'path', path: '/sc/jammy', format: 'dir', init: 'runit' }, true);
    await createVm(runit.value, args, call(2));
    assert.equal(runit.requests[0]?.init, 'runit');
    const light = deps({ kind: 'docker', uri: 'docker://bosh/noble' }, true);
    await createVm(light.value, args, call(2));
    assert.equal(light.requests[0]?.init, 'systemd');
    assert.deepEqual(light.requests[0]?.image, { uri: 'docker://bosh/noble' });
    assert.deepEqual(runit.requests[0]?.image, { rootfsDir: '/sc/jammy' }, 'an expanded stemcell gets a per-VM root');
    assert.deepEqual(systemd.requests[0]?.image, { uri: '/sc/noble' }, "a tar stemcell goes to Garden's image plugin");
  });
});
