import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dockerUri, isLightStemcell, lightStemcellPropertiesSchema } from '../../src/stemcells/light-stemcell';

describe('light stemcells', () => {
  it('are recognised by stemcell_formats', () => {
    assert.equal(isLightStemcell({ stemcell_formats: ['warden-light'] }), true);
    assert.equal(isLightStemcell({ stemcell_formats: ['general-tar', 'docker-light'] }), true);
    assert.equal(isLightStemcell({ stemcell_formats: ['warden-tar', 'general-tar'] }), false);
    assert.equal(isLightStemcell({}), false);
    assert.equal(isLightStemcell(undefined), false);
  });

  it('accept registry references with tags, ports and a sha256 digest', () => {
    for (const image_reference of ['ubuntu', 'cloudfoundry/noble:1.108', 'registry.local:5000/team/stemcell:latest']) {
      assert.equal(lightStemcellPropertiesSchema.safeParse({ image_reference, digest: `sha256:${'a'.repeat(64)}` }).success, true, image_reference);
    }
    assert.equal(dockerUri('cloudfoundry/noble:1.108'), 'docker://cloudfoundry/noble:1.108');
  });

  it('reject escaping references, whitespace and malformed digests', () => {
    for (const properties of [
      { image_reference: 'a/../b' },
      { image_reference: '/abs' },
      { image_reference: ':tag' },
      { image_reference: '@sha256:x' },
      { image_reference: 'a b' },
      { image_reference: '' },
      { image_reference: 'ok', digest: `sha256:${'A'.repeat(64)}` },
      { image_reference: 'ok', digest: `sha512:${'a'.repeat(64)}` },
      {},
    ]) {
      assert.equal(lightStemcellPropertiesSchema.safeParse(properties).success, false, JSON.stringify(properties));
    }
  });
});
