import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCpi } from '../../testkit/cpi-process';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';

const TRAVERSALS = ['../etc', '..', '/etc/passwd', 'a/b', 'ok\u0000bad', ''];
const HUGE = 'x'.repeat(1024 * 1024);
const NETWORKS = { default: { type: 'dynamic', cloud_properties: {} } };

/** Every position where a cid reaches a path, with a hostile value in it. */
function cidPositionCases(bad: string): [string, string, unknown[]][] {
  return [
    ['delete_stemcell', 'stemcell cid', [bad]],
    ['create_vm', 'stemcell cid', ['agent', bad, {}, NETWORKS, [], {}]],
    ['delete_vm', 'vm cid', [bad]],
    ['has_vm', 'vm cid', [bad]],
    ['reboot_vm', 'vm cid', [bad]],
    ['set_vm_metadata', 'vm cid', [bad, { name: 'x' }]],
    ['attach_disk', 'vm cid', [bad, 'disk']],
    ['attach_disk', 'disk cid', ['vm', bad]],
    ['detach_disk', 'disk cid', ['vm', bad]],
    ['get_disks', 'vm cid', [bad]],
    ['delete_disk', 'disk cid', [bad]],
    ['has_disk', 'disk cid', [bad]],
    ['resize_disk', 'disk cid', [bad, 2048]],
    ['update_disk', 'disk cid', [bad, 2048, {}]],
    ['set_disk_metadata', 'disk cid', [bad, { name: 'x' }]],
    ['snapshot_disk', 'disk cid', [bad, {}]],
    ['delete_snapshot', 'snapshot cid', [bad]],
  ];
}

const CASES: [string, string | Buffer][] = [
  ...cidPositionCases('../../etc').map(([method, what, args]): [string, string] => [
    `${method}: '..' traversal in the ${what}`,
    JSON.stringify({ method, arguments: args, context: { director_uuid: 'x' } }),
  ]),
  ...TRAVERSALS.slice(1).map((bad): [string, string] => [
    `delete_vm with cid ${JSON.stringify(bad)}`,
    JSON.stringify({ method: 'delete_vm', arguments: [bad] }),
  ]),
  ...TRAVERSALS.slice(1).map((bad): [string, string] => [
    `delete_disk with cid ${JSON.stringify(bad)}`,
    JSON.stringify({ method: 'delete_disk', arguments: [bad] }),
  ]),
  ['a 1 MiB stemcell cid', JSON.stringify({ method: 'delete_stemcell', arguments: [HUGE] })],
  ['a 1 MiB disk cid', JSON.stringify({ method: 'has_disk', arguments: [HUGE] })],
  ['a 1 MiB method name', JSON.stringify({ method: HUGE, arguments: [] })],
  [
    'invalid UTF-8 in a cid',
    Buffer.concat([Buffer.from('{"method":"delete_vm","arguments":["'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"]}')]),
  ],
  ['create_vm with null networks', JSON.stringify({ method: 'create_vm', arguments: ['agent', 'stemcell', {}, null, [], {}] })],
  ['create_vm with a null network', JSON.stringify({ method: 'create_vm', arguments: ['agent', 'stemcell', {}, { default: null }, [], {}] })],
  ['create_vm with no networks', JSON.stringify({ method: 'create_vm', arguments: ['agent', 'stemcell', {}, {}, [], {}] })],
  ['create_vm with a numeric agent id', JSON.stringify({ method: 'create_vm', arguments: [42, 'stemcell', {}, NETWORKS, [], {}] })],
  ['create_vm with too few arguments', JSON.stringify({ method: 'create_vm', arguments: ['agent'] })],
  ['create_vm with disk_cids not an array', JSON.stringify({ method: 'create_vm', arguments: ['agent', 'stemcell', {}, NETWORKS, 'disk', {}] })],
  ['create_disk with a string size', JSON.stringify({ method: 'create_disk', arguments: ['1024', {}, null] })],
  ['create_disk with a negative size', JSON.stringify({ method: 'create_disk', arguments: [-1, {}, null] })],
  ['create_disk with a zero size', JSON.stringify({ method: 'create_disk', arguments: [0, {}, null] })],
  ['create_disk with a fractional size', JSON.stringify({ method: 'create_disk', arguments: [1.5, {}, null] })],
  ['create_disk with an absurd size', JSON.stringify({ method: 'create_disk', arguments: [1e15, {}, null] })],
  ['create_disk with a traversal vm cid', JSON.stringify({ method: 'create_disk', arguments: [10, {}, '../vm'] })],
  ['resize_disk with a string size', JSON.stringify({ method: 'resize_disk', arguments: ['d', 'big'] })],
  ['create_stemcell with a relative image path', JSON.stringify({ method: 'create_stemcell', arguments: ['image', null] })],
  ['create_stemcell with a missing image', JSON.stringify({ method: 'create_stemcell', arguments: ['/nonexistent/image', null] })],
  ['create_stemcell with /etc/passwd as image', JSON.stringify({ method: 'create_stemcell', arguments: ['/etc/passwd', null] })],
  ['create_stemcell with a directory as image', JSON.stringify({ method: 'create_stemcell', arguments: ['/etc', null] })],
  ['create_stemcell with a numeric image path', JSON.stringify({ method: 'create_stemcell', arguments: [7, null] })],
  ['set_vm_metadata with metadata as a string', JSON.stringify({ method: 'set_vm_metadata', arguments: ['vm', 'name'] })],
  ['snapshot_disk with no arguments', JSON.stringify({ method: 'snapshot_disk', arguments: [] })],
  ['an unknown method', JSON.stringify({ method: 'format_host', arguments: [] })],
  ['a method named like a prototype key', JSON.stringify({ method: '__proto__', arguments: [] })],
  ['a method named constructor', JSON.stringify({ method: 'constructor', arguments: [] })],
  ['api_version 3 on create_vm', JSON.stringify({ method: 'create_vm', arguments: ['agent', 'stemcell', {}, NETWORKS, [], {}], api_version: 3 })],
  ['api_version 99 on attach_disk', JSON.stringify({ method: 'attach_disk', arguments: ['vm', 'disk'], api_version: 99 })],
  ['api_version -1', JSON.stringify({ method: 'has_vm', arguments: ['vm'], api_version: -1 })],
  ['api_version as a string', JSON.stringify({ method: 'has_vm', arguments: ['vm'], api_version: '2' })],
  ['arguments as null', JSON.stringify({ method: 'has_vm', arguments: null })],
  ['a nested-null request', JSON.stringify({ method: null, arguments: [null], context: null })],
  ['deeply nested arguments', `{"method":"has_vm","arguments":[${'['.repeat(5000)}${']'.repeat(5000)}]}`],
  ['a JSON number', '42'],
  ['truncated JSON', '{"method":"delete_vm","argu'],
];

/** Everything under the environment's dir, so that "no change on disk" can be compared. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map((entry) => join(dir, String(entry))).sort();
}

describe('hostile and malformed requests through bin/cpi', () => {
  let env: CpiEnvironment;
  before(async () => {
    env = await startCpiEnvironment();
    // An initialised CPI (the job's pre-start makes the store dirs): "no change" is measured from there.
    for (const dir of Object.values(env.dirs)) await mkdir(dir, { recursive: true });
  });
  after(async () => {
    await env?.close();
  });

  it(`has at least 40 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 40);
  });

  for (const [name, body] of CASES) {
    it(`answers ${name} with a JSON error, exit 0, and no change on disk or in Garden`, async () => {
      const treeBefore = await listTree(env.dir);
      env.garden.resetRecords();
      const run = await runCpi(env.configPath, body);
      assert.equal(run.status, 0);
      assert.ok(run.response.error, `expected an error, got ${run.stdout.slice(0, 300)}`);
      assert.match(run.response.error.type, /^Bosh::Clouds::(CpiError|CloudError|NotImplemented|NotSupported)$/);
      assert.ok(run.response.error.message.length < 2000, 'the message stays short even for huge input');
      assert.equal(typeof run.response.error.ok_to_retry, 'boolean');
      assert.deepEqual(await listTree(env.dir), treeBefore);
      const mutating = env.garden.requests.filter((request) => request.method !== 'GET');
      assert.deepEqual(mutating, []);
    });
  }
});
