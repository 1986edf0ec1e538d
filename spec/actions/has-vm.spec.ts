import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasVm, hasVmArgs } from '../../src/actions/has-vm';
import type { CallContext } from '../../src/actions/call-context';
import { GardenContainerNotFound, GardenUnreachable, type GardenClient } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';

const call: CallContext = { apiVersion: 2, requestId: 'cpi-1', logger: silentLogger };

describe('has_vm', () => {
  it('is true when Garden has the container, false on ContainerNotFoundError, an error otherwise', async () => {
    const garden = {
      info: async (handle: string) => {
        if (handle === 'gone') throw new GardenContainerNotFound('unknown handle: gone', { route: 'GET /containers/gone/info', handle });
        if (handle === 'down') throw new GardenUnreachable('ECONNREFUSED', { route: 'GET', code: 'ECONNREFUSED' });
        return {} as Awaited<ReturnType<GardenClient['info']>>;
      },
    } satisfies Pick<GardenClient, 'info'>;
    assert.equal(await hasVm({ garden }, hasVmArgs.parse(['vm-1']), call), true);
    assert.equal(await hasVm({ garden }, hasVmArgs.parse(['gone']), call), false);
    await assert.rejects(hasVm({ garden }, hasVmArgs.parse(['down']), call), /Checking for VM 'down': .*ECONNREFUSED/);
  });

  it('rejects a cid that is not a plain id', () => {
    assert.equal(hasVmArgs.safeParse(['../etc']).success, false);
  });
});
