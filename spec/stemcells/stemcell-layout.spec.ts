import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dataKey, dataName, isStemcellCid, keyOfDataName } from '../../src/stemcells/stemcell-layout';

describe('stemcell layout names', () => {
  const sha1 = 'ABCDEF0123456789abcdef0123456789abcdef01';

  it('data names round-trip through their key; nothing else is taken for data', () => {
    const key = dataKey(sha1, 'dir');
    assert.equal(key, `${sha1.toLowerCase()}-dir`);
    assert.equal(keyOfDataName(dataName(key)), key);
    for (const name of ['.data-../../etc-dir', `.data-${sha1.toLowerCase()}-zip`, 'some-cid', `.stemcell.import-1-2-${sha1.toLowerCase()}`]) {
      assert.equal(keyOfDataName(name), undefined, name);
    }
  });

  it('a stemcell cid is one plain, visible path component', () => {
    assert.ok(isStemcellCid('3f1e0c2a-1b2c-4d5e-8f90-0123456789ab'));
    for (const cid of ['', '.', '..', '.data-x', 'a/b', '../x', 'x\0y', 'x'.repeat(256)]) assert.equal(isStemcellCid(cid), false, cid);
  });
});
