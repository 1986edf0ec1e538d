import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CallContext } from '../../src/actions/call-context';
import { deleteStemcell, deleteStemcellArgs } from '../../src/actions/delete-stemcell';
import { InvalidRequest } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { defineMethod } from '../../src/actions/define-method';
import type { StemcellStore } from '../../src/stemcells/stemcell-store';

const call: CallContext = { apiVersion: 2, requestId: 'spec', logger: silentLogger };

describe('delete_stemcell', () => {
  it('deletes through the store with the call logger and returns null', async () => {
    const deleted: string[] = [];
    const stemcells = {
      async delete(cid, logger) {
        assert.equal(logger, silentLogger);
        deleted.push(cid);
      },
    } satisfies Pick<StemcellStore, 'delete'>;
    const method = defineMethod(deleteStemcellArgs, (args, context) => deleteStemcell({ stemcells }, args, context));
    assert.equal(await method(['stemcell-cid'], call, 'delete_stemcell'), null);
    assert.deepEqual(deleted, ['stemcell-cid']);
    await assert.rejects(method([''], call, 'delete_stemcell'), InvalidRequest);
    await assert.rejects(method([7], call, 'delete_stemcell'), InvalidRequest);
    assert.deepEqual(deleted, ['stemcell-cid']);
  });
});
