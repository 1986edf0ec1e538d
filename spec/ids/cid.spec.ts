import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cidProblem, isCid } from '../../src/ids/cid';
import { isStemcellCid } from '../../src/stemcells/stemcell-layout';
import { plainId, stemcellCid } from '../../src/actions/shared-schemas';
import { MANUAL_NETWORK, RUNIT_STEMCELL, startVmFixture, type VmFixture } from '../vms/vm-fixture';
import { describeFirstIssue } from '../../src/errors/validation-message';

// One cid rule for every position (src/ids/cid.ts), applied before anything else.

const GOOD = ['3f1e0c2a-1b2c-4d5e-8f90-0123456789ab', 'sc-runit', 'a..b', 'A_b.c-9', 'x'.repeat(255)];
const BAD = ['', '.', '..', '.data-x', '.hidden', 'a/b', '../x', 'x\0y', 'vm?x=1', 'vm#', 'vm%2F', 'a b', 'a\nb', 'é', 'x'.repeat(256)];

describe('the cid rule', () => {
  it('accepts ids made of letters, digits, ".", "_" and "-" (not starting with ".")', () => {
    for (const cid of GOOD) {
      assert.equal(cidProblem(cid), undefined, cid);
      assert.ok(plainId.safeParse(cid).success, cid);
      assert.ok(stemcellCid.safeParse(cid).success, cid);
      assert.ok(isStemcellCid(cid), cid);
    }
  });

  it('refuses everything else, the same way in every position', () => {
    for (const cid of BAD) {
      assert.equal(isCid(cid), false, JSON.stringify(cid));
      assert.equal(plainId.safeParse(cid).success, false, JSON.stringify(cid));
      assert.equal(stemcellCid.safeParse(cid).success, false, JSON.stringify(cid));
      assert.equal(isStemcellCid(cid), false, JSON.stringify(cid));
    }
  });

  it('says what was expected and what came', () => {
    const parsed = plainId.safeParse('vm?x=1');
    assert.equal(parsed.success, false);
    // The schema says what was expected; the one validation wording adds what came.
    assert.match(describeFirstIssue(parsed.error?.issues ?? [], 'vm?x=1'), /expected an id: ASCII letters, digits.*, got "vm\?x=1"$/);
  });

  it("keeps the upstream CPI's light:// stemcell cids as stemcell cids only", () => {
    assert.ok(stemcellCid.safeParse('light://docker.io/bosh/warden@sha256:abc').success);
    assert.equal(stemcellCid.safeParse('light://').success, false);
    assert.equal(plainId.safeParse('light://x').success, false);
  });
});

describe('a cid with URL syntax never reaches Garden (through the built CPI)', () => {
  let fx: VmFixture;
  let vm: string;
  before(async () => {
    fx = await startVmFixture();
    const created = await fx.call('create_vm', ['agent-cid', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(created.response.error, null, JSON.stringify(created.response.error));
    vm = (created.response.result as [string])[0];
  });
  after(async () => {
    await fx.close();
  });

  for (const suffix of ['?x=1', '#', '%3F', '/../x']) {
    for (const method of ['delete_vm', 'has_vm', 'reboot_vm', 'set_vm_metadata'] as const) {
      it(`${method}("<vm>${suffix}") is refused up front and leaves <vm> alone`, async () => {
        const before = fx.emulator.requests.length;
        const args = method === 'set_vm_metadata' ? [`${vm}${suffix}`, { name: 'x' }] : [`${vm}${suffix}`];
        const { response } = await fx.call(method, args);
        assert.equal(response.error?.type, 'Bosh::Clouds::CpiError', JSON.stringify(response));
        assert.match(response.error?.message ?? '', /arguments\[0\].*letters, digits/);
        assert.equal(fx.emulator.requests.length, before, 'no Garden request was made');
        assert.deepEqual(fx.emulator.containerHandles(), [vm]);
        assert.ok(
          fx.mountsUnderDir().some((target) => target.includes(vm)),
          'its mounts are still there',
        );
      });
    }
  }

  for (const [method, args] of [
    ['create_vm', ['agent-x', `${RUNIT_STEMCELL}?x`, {}, MANUAL_NETWORK, [], {}]],
    ['delete_stemcell', [`${RUNIT_STEMCELL}#`]],
    ['attach_disk', [`${'vm'}?x=1`, 'disk-1']],
    ['delete_disk', ['disk?x']],
  ] as const) {
    it(`${method} with a URL-ish cid is refused before any work`, async () => {
      const before = fx.emulator.requests.length;
      const { response } = await fx.call(method, [...args]);
      assert.equal(response.error?.type, 'Bosh::Clouds::CpiError', JSON.stringify(response));
      assert.match(response.error?.message ?? '', /letters, digits/);
      assert.equal(fx.emulator.requests.length, before);
    });
  }
});
