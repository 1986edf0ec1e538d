import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CallContext } from '../../src/actions/call-context';
import { createStemcell, createStemcellArgs } from '../../src/actions/create-stemcell';
import { InvalidRequest } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { defineMethod } from '../../src/actions/define-method';
import type { StemcellImporter } from '../../src/stemcells/stemcell-importer';

const call: CallContext = { apiVersion: 2, requestId: 'spec', logger: silentLogger };

function fakeImporter() {
  const calls: { imagePath: string; cloudProperties: unknown }[] = [];
  const importer = {
    async importStemcell(imagePath, cloudProperties) {
      calls.push({ imagePath, cloudProperties });
      return 'new-stemcell-cid';
    },
  } satisfies StemcellImporter;
  return { calls, importer };
}

describe('create_stemcell', () => {
  const method = (importer: StemcellImporter) =>
    defineMethod(createStemcellArgs, (args, context) => createStemcell({ stemcells: importer }, args, context));

  it('returns the cid string and hands the cloud_properties (null included) to the importer', async () => {
    const { calls, importer } = fakeImporter();
    assert.equal(await method(importer)(['/var/vcap/data/tmp/director/stemcell123/image', null], call, 'create_stemcell'), 'new-stemcell-cid');
    assert.equal(await method(importer)(['/img', { image_reference: 'x' }, 'extra-ignored'], call, 'create_stemcell'), 'new-stemcell-cid');
    assert.deepEqual(calls, [
      { imagePath: '/var/vcap/data/tmp/director/stemcell123/image', cloudProperties: null },
      { imagePath: '/img', cloudProperties: { image_reference: 'x' } },
    ]);
  });

  it('tolerates a missing cloud_properties argument', async () => {
    const { calls, importer } = fakeImporter();
    await method(importer)(['/img'], call, 'create_stemcell');
    assert.deepEqual(calls, [{ imagePath: '/img', cloudProperties: undefined }]);
  });

  it('rejects a missing, empty or relative image path, naming the argument', async () => {
    const { calls, importer } = fakeImporter();
    for (const args of [[], [''], ['relative/image', {}], [42, {}]]) {
      await assert.rejects(method(importer)(args, call, 'create_stemcell'), (error: unknown) => {
        assert.ok(error instanceof InvalidRequest);
        assert.match(error.message, /^Invalid arguments for 'create_stemcell': arguments\[0\]: /);
        return true;
      });
    }
    assert.equal(calls.length, 0);
  });
});
