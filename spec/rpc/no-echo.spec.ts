import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonErrorOffset, parseJsonText } from '../../src/errors/json-text';
import { printable } from '../../src/log/printable';
import { runCpi, tempConfig } from '../../testkit/cpi-process';
import { MANUAL_NETWORK, RUNIT_STEMCELL, startVmFixture, type VmFixture } from '../vms/vm-fixture';

// Nothing echoes secrets from a file that fails to parse, and nothing from a request forges log lines.

function assertNoSecret(run: { stdout: string; stderr: string }, secret: string): void {
  assert.ok(!run.stdout.includes(secret), `stdout echoes the secret: ${run.stdout}`);
  assert.ok(!run.stderr.includes(secret), `stderr echoes the secret: ${run.stderr}`);
}

describe('parseJsonText', () => {
  it('finds the offset JSON.parse stops at, for a range of invalid texts', () => {
    const cases: [string, number][] = [
      ['{"a":B}', 5],
      ['{"a":1', 6],
      ['', 0],
      ['{"a" 1}', 5],
      ['[1,]', 3],
      ['{"a":1,}', 7],
      ['"abc', 4],
      ['"a\\x"', 3],
      ['[tru]', 4],
      ['{"a":01}', 6],
      ['[1] x', 4],
      ['"\u0001"', 1],
      ['{,}', 1],
      ['-', 1],
      ['[1 2]', 3],
    ];
    for (const [text, offset] of cases) {
      assert.throws(() => JSON.parse(text));
      assert.equal(jsonErrorOffset(text), offset, JSON.stringify(text));
    }
    for (const text of ['{}', '[]', '{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n"]}', ' 0 ', '"x"', '[[[[]]]]']) {
      assert.equal(jsonErrorOffset(text), -1, text);
    }
    assert.equal(jsonErrorOffset('['.repeat(1_000_000)), 1_000_000, 'deep nesting does not overflow the stack');
  });

  it('reports line and column only', () => {
    assert.deepEqual(parseJsonText('{\n  "key":\n    SECRET}'), { ok: false, where: 'at line 3, column 5' });
    assert.deepEqual(parseJsonText('{"a":'), { ok: false, where: 'at the end (line 1, column 6)' });
  });
});

describe('printable', () => {
  it('escapes control characters and caps the length', () => {
    assert.equal(printable('a\nb\r\t\u001b[31m\u2028'), 'a\\nb\\r\\t\\u001b[31m\\u2028');
    assert.equal(printable('x'.repeat(150), 100), `${'x'.repeat(100)}…`);
  });
});

describe('through the built CPI', () => {
  let dir: string;
  let configPath: string;
  let config: Record<string, unknown>;
  before(async () => {
    ({ dir, configPath, config } = await tempConfig());
  });

  it('a cpi.json with an unquoted secret answers the position, not the text', async () => {
    const text = JSON.stringify(config, null, 2).replace(
      '"agent": {',
      '"agent": {\n    "blobstore": {"provider": "s3", "options": {"secret_access_key":BLOBSTORE-SECRET-pw456}},',
    );
    const bad = join(dir, 'bad-secret.json');
    await writeFile(bad, text);
    const run = await runCpi(bad, JSON.stringify({ method: 'info', arguments: [] }));
    assert.equal(run.response.error?.type, 'Bosh::Clouds::CpiError');
    assert.match(run.response.error?.message ?? '', /not valid JSON \(at line \d+, column \d+\)$/);
    assertNoSecret(run, 'BLOBSTORE');
  });

  it('a request with an unquoted secret answers the position, not the text', async () => {
    const run = await runCpi(configPath, '{"method":"create_disk","arguments":[1024, {"password":REQUEST-SECRET-pw}]}');
    assert.match(run.response.error?.message ?? '', /not valid JSON \(at line 1, column 56\)/);
    assertNoSecret(run, 'REQUEST-SECRET');
  });

  it('a newline in context.request_id or in the method cannot forge a log line; long ids are cut', async () => {
    const forged = '2026-11-30T00:00:00.000Z ERROR garden-cpi [req_id cpi-9] forged line';
    const run = await runCpi(
      configPath,
      JSON.stringify({
        method: `no_such_method\n${forged}`,
        arguments: [],
        context: { request_id: `cpi-1\n${forged}\u001b[2J${'x'.repeat(5000)}` },
      }),
    );
    assert.equal(run.response.error?.type, 'Bosh::Clouds::NotImplemented');
    const lines = run.stderr.split('\n').filter((line) => line !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO|WARN|ERROR) garden-cpi \[req_id cpi-1\\n2026/, line);
      assert.ok(!line.includes('\u001b'), 'no raw escape sequence');
      const tag = /\[req_id (.*?)\] /.exec(line)?.[1] ?? '';
      assert.ok(tag.length <= 101, `request id tag of ${tag.length} characters`);
    }
    assert.ok(!run.response.log.includes('\n'), run.response.log);
  });

  after(async () => {
    const { rm } = await import('node:fs/promises');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('CPI records that fail to parse are not echoed', () => {
  let fx: VmFixture;
  let vm: string;
  let stateDir: string;
  before(async () => {
    fx = await startVmFixture();
    stateDir = fx.config.actions.state_dir ?? '';
    const created = await fx.call('create_vm', ['agent-echo', RUNIT_STEMCELL, {}, MANUAL_NETWORK, [], {}]);
    assert.equal(created.response.error, null, JSON.stringify(created.response));
    vm = (created.response.result as [string])[0];
  });
  after(async () => {
    await fx.call('delete_vm', [vm]);
    await fx.close();
  });

  it('corrupt agent settings: attach_disk names the file and the position, not the mbus password', async () => {
    const disk = await fx.call('create_disk', [64, {}, vm]);
    const diskCid = disk.response.result as string;
    const settingsFile = join(stateDir, 'vms', vm, 'agent-settings.json');
    const original = await readFile(settingsFile, 'utf8');
    await writeFile(settingsFile, '{"mbus":nats://nats:SETTINGS-SECRET-pw@10.0.0.1:4222}');
    try {
      const run = await fx.call('attach_disk', [vm, diskCid]);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', JSON.stringify(run.response));
      assert.match(run.response.error?.message ?? '', /not valid JSON \(at line 1, column 10\)/);
      assertNoSecret(run, 'SETTINGS-SECRET');
    } finally {
      await writeFile(settingsFile, original);
      await fx.call('delete_disk', [diskCid]);
    }
  });

  it('a corrupt VM record: reboot_vm names the file and the position, not the record', async () => {
    const recordFile = join(stateDir, 'vms', vm, 'vm.json');
    const original = await readFile(recordFile, 'utf8');
    await writeFile(recordFile, '{"init":RECORD-SECRET-x}');
    try {
      const run = await fx.call('reboot_vm', [vm]);
      assertNoSecret(run, 'RECORD-SECRET');
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', JSON.stringify(run.response));
      assert.match(run.response.error?.message ?? '', new RegExp(`'${recordFile}' is not valid JSON \\(at line 1, column 9\\)`));
    } finally {
      await writeFile(recordFile, original);
    }
  });

  it('a corrupt VM record does not stop delete_vm (clean-up carries on without it)', async () => {
    await writeFile(join(stateDir, 'vms', vm, 'vm.json'), '{"init":RECORD-SECRET-x}');
    const run = await fx.call('delete_vm', [vm]);
    assert.equal(run.response.error, null, JSON.stringify(run.response));
    assertNoSecret(run, 'RECORD-SECRET');
  });
});
