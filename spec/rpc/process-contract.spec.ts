import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUNDLE, type CpiRun, request, runCpi, tempConfig } from '../../testkit/cpi-process';

function assertResponseShape(run: CpiRun): void {
  assert.equal(run.status, 0, `exit status 0 even for errors; stderr: ${run.stderr}`);
  assert.deepEqual(Object.keys(run.response).sort(), ['error', 'log', 'result']);
  assert.equal(typeof run.response.log, 'string');
  if (run.response.error !== null) {
    assert.equal(typeof run.response.error.ok_to_retry, 'boolean');
    assert.match(run.response.error.type, /^Bosh::Clouds::/);
    assert.equal(run.response.result, null);
  }
  // Exactly one JSON document, nothing else on stdout.
  assert.equal(run.stdout.trim(), JSON.stringify(run.response));
}

function assertError(run: CpiRun, type: string, message: RegExp): void {
  assertResponseShape(run);
  assert.ok(run.response.error, `expected an error, got ${run.stdout}`);
  assert.equal(run.response.error.type, type);
  assert.match(run.response.error.message, message);
}

describe('bin/cpi process contract (built bundle)', () => {
  let dir: string;
  let configPath: string;

  before(async () => {
    ({ dir, configPath } = await tempConfig());
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const apiVersion of [undefined, 1, 2]) {
    it(`answers info with api_version ${String(apiVersion)}`, async () => {
      const run = await runCpi(configPath, request('info', [], apiVersion === undefined ? {} : { api_version: apiVersion }));
      assertResponseShape(run);
      assert.deepEqual(run.response.result, {
        api_version: 2,
        stemcell_formats: ['warden-tar', 'general-tar', 'docker-light', 'warden-light'],
      });
      assert.equal(run.response.error, null);
    });
  }

  it('answers info as bosh-cli sends it (api_version 1, no request_id)', async () => {
    const run = await runCpi(configPath, JSON.stringify({ method: 'info', arguments: [], context: { director_uuid: 'x' }, api_version: 1 }));
    assertResponseShape(run);
    assert.equal((run.response.result as { api_version: number }).api_version, 2);
  });

  for (const flag of ['--help', '-h']) {
    it(`prints its usage for ${flag}, without waiting for stdin`, () => {
      const run = spawnSync(process.execPath, [BUNDLE, flag], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^garden-cpi: the BOSH CPI for Garden/);
      assert.match(run.stdout, /Usage: node cpi\.js <path to cpi\.json>/);
      assert.equal(run.stderr, '');
    });
  }

  it('accepts the upstream `-configPath=<path>` argument form', async () => {
    const run = await runCpi(undefined, request('info', []), { args: [`-configPath=${configPath}`] });
    assertResponseShape(run);
    assert.equal(run.response.error, null);
  });

  it('tolerates extra trailing arguments', async () => {
    const run = await runCpi(configPath, request('info', ['extra', 1]));
    assert.equal(run.response.error, null);
  });

  const badRequests: [string, string | Buffer, RegExp][] = [
    ['empty stdin', '', /stdin was empty/],
    ['whitespace only', '  \n', /stdin was empty/],
    ['non-JSON', '{"method": "info", ', /not valid JSON/],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
    ['a JSON array', '[1,2]', /expected a JSON object, got an array/],
    ['a JSON string', '"info"', /expected a JSON object, got string/],
    ['JSON null', 'null', /expected a JSON object, got null/],
    ['missing method', '{"arguments":[]}', /^Invalid request: method: expected a string, got nothing$/],
    ['method not a string', '{"method":42,"arguments":[]}', /^Invalid request: method: expected a string, got 42$/],
    ['empty method', '{"method":"","arguments":[]}', /^Invalid request: method: expected a non-empty string, got ""$/],
    ['missing arguments', '{"method":"info"}', /^Invalid request: arguments: expected an array, got nothing$/],
    ['arguments not an array', '{"method":"info","arguments":{"a":1}}', /^Invalid request: arguments: expected an array, got a JSON object$/],
    ['context not an object', '{"method":"info","arguments":[],"context":"x"}', /^Invalid request: context: expected a JSON object, got "x"$/],
    ['api_version a string', '{"method":"info","arguments":[],"api_version":"2"}', /^Invalid request: api_version: expected a number, got "2"$/],
    [
      'api_version a fraction',
      '{"method":"info","arguments":[],"api_version":2.5}',
      /^Invalid request: api_version: expected a whole number, got 2\.5$/,
    ],
    ['api_version zero', '{"method":"info","arguments":[],"api_version":0}', /^Invalid request: api_version: expected an integer >= 1, got 0$/],
  ];
  for (const [name, body, message] of badRequests) {
    it(`answers a JSON error for ${name}`, async () => {
      assertError(await runCpi(configPath, body), 'Bosh::Clouds::CpiError', message);
    });
  }

  it('answers NotImplemented for an unknown method', async () => {
    assertError(await runCpi(configPath, request('launch_rocket', [])), 'Bosh::Clouds::NotImplemented', /Method is not known, got 'launch_rocket'/);
  });

  it('answers NotImplemented for api_version above 2 on a method whose result differs by version', async () => {
    const run = await runCpi(configPath, request('create_vm', ['a', 's', {}, {}, [], {}], { api_version: 3 }));
    assertError(run, 'Bosh::Clouds::NotImplemented', /max supported is '2'/);
  });

  it('answers info even when api_version is above 2', async () => {
    const run = await runCpi(configPath, request('info', [], { api_version: 3 }));
    assert.equal(run.response.error, null);
  });

  it('names the argument that has the wrong type', async () => {
    assertError(
      await runCpi(configPath, request('delete_network', [42])),
      'Bosh::Clouds::CpiError',
      /^Invalid arguments for 'delete_network': arguments\[0\]: expected a string, got 42$/,
    );
    assertError(
      await runCpi(configPath, request('delete_network', [])),
      'Bosh::Clouds::CpiError',
      /^Invalid arguments for 'delete_network': arguments\[0\]: expected a string, got nothing$/,
    );
    assertError(
      await runCpi(configPath, request('create_disk', [1.5, {}, null])),
      'Bosh::Clouds::CpiError',
      /^Invalid arguments for 'create_disk': arguments\[0\]: expected a whole number of MiB, got 1\.5$/,
    );
    assertError(
      await runCpi(configPath, request('create_vm', ['a', 's', {}, 'nets', [], {}])),
      'Bosh::Clouds::CpiError',
      /^Invalid arguments for 'create_vm': arguments\[3\]: expected a JSON object, got "nets"$/,
    );
    assertError(
      await runCpi(configPath, request('has_vm', ['../etc'])),
      'Bosh::Clouds::CpiError',
      /^Invalid arguments for 'has_vm': arguments\[0\]: expected an id: ASCII letters, digits, '\.', '_' and '-' only, not starting with '\.', got "\.\.\/etc"$/,
    );
  });

  it('answers NotSupported for create_network rather than pretending', async () => {
    assertError(
      await runCpi(configPath, request('create_network', [{ type: 'manual', cloud_properties: null }])),
      'Bosh::Clouds::NotSupported',
      /not supported/,
    );
  });

  it('answers a JSON error for a request over 10 MiB and drains stdin', async () => {
    const huge = request('info', ['x'.repeat(11 * 1024 * 1024)]);
    assertError(await runCpi(configPath, huge), 'Bosh::Clouds::CpiError', /more than the 10485760 byte limit/);
  });

  it('answers a JSON error for a missing config path, a missing file, an unreadable file and bad JSON', async () => {
    assertError(await runCpi(undefined, request('info', [])), 'Bosh::Clouds::CpiError', /no config path given/);
    assertError(await runCpi(join(dir, 'nope.json'), request('info', [])), 'Bosh::Clouds::CpiError', /cannot read it \(ENOENT\)/);
    const asDir = join(dir, 'config-dir');
    await mkdir(asDir, { recursive: true });
    assertError(await runCpi(asDir, request('info', [])), 'Bosh::Clouds::CpiError', /cannot read it \(EISDIR\)/);
    const badJson = join(dir, 'bad.json');
    await writeFile(badJson, '{"warden":');
    assertError(await runCpi(badJson, request('info', [])), 'Bosh::Clouds::CpiError', /not valid JSON/);
  });

  it('names the config field that fails validation', async () => {
    const { dir: badDir, configPath: badConfig } = await tempConfig({ warden: { connect_network: 'udp', connect_address: 'x' } });
    try {
      assertError(
        await runCpi(badConfig, request('info', [])),
        'Bosh::Clouds::CpiError',
        /^Invalid CPI config '[^']+': warden\.connect_network: expected "tcp" or "unix", got "udp"$/,
      );
    } finally {
      await rm(badDir, { recursive: true, force: true });
    }
  });

  it('accepts the upstream release PascalCase cpi.json', async () => {
    const upstreamConfig = join(dir, 'upstream.json');
    await writeFile(
      upstreamConfig,
      JSON.stringify({
        start_containers_with_systemd: true,
        Warden: { ConnectNetwork: 'tcp', ConnectAddress: '127.0.0.1:7777' },
        Actions: {
          StemcellsDir: join(dir, 's'),
          ExpandStemcellTarball: false,
          DisksDir: join(dir, 'd'),
          HostEphemeralBindMountsDir: join(dir, 'e'),
          HostPersistentBindMountsDir: join(dir, 'p'),
          GuestEphemeralBindMountPath: '/var/vcap/data',
          GuestPersistentBindMountsDir: '/warden-cpi-dev',
          Agent: { Mbus: 'nats://10.254.50.4:4222', NTP: [] },
        },
      }),
    );
    const run = await runCpi(upstreamConfig, request('info', []));
    assertResponseShape(run);
    assert.equal(run.response.error, null);
  });

  it('leaves nothing on disk for bad input', async () => {
    await runCpi(configPath, request('delete_network', [42]));
    await runCpi(configPath, '{"method":');
    await runCpi(configPath, request('create_vm', ['a', 's', {}, {}, [], {}], { api_version: 3 }));
    const entries = (await readdir(dir)).sort();
    assert.deepEqual(
      entries.filter((name) => !['cpi.json', 'config-dir', 'bad.json', 'upstream.json'].includes(name)),
      [],
    );
  });

  it('keeps secrets out of stderr at debug level', async () => {
    const env = { bosh: { password: 'hunter2-password', mbus: { cert: { private_key: 'PRIVATE-KEY-MATERIAL' } } } };
    const run = await runCpi(
      configPath,
      request('create_vm', ['agent', 'stemcell', { secret_token: 'cloud-secret' }, { net: { type: 'dynamic', cloud_properties: {} } }, [], env]),
      { env: { BOSH_LOG_LEVEL: 'debug' } },
    );
    assertResponseShape(run);
    assert.match(run.stderr, /DEBUG/);
    assert.match(run.stderr, /\[req_id cpi-123456\]/);
    for (const secret of ['hunter2-password', 'PRIVATE-KEY-MATERIAL', 'cloud-secret', 'secret-nats-password']) {
      assert.ok(!run.stderr.includes(secret), `stderr leaks ${secret}`);
      assert.ok(!run.stdout.includes(secret), `stdout leaks ${secret}`);
    }
  });

  it('logs the request at debug level to stderr only', async () => {
    await chmod(configPath, 0o644);
    const run = await runCpi(configPath, request('info', []), { env: { BOSH_LOG_LEVEL: 'debug' } });
    assertResponseShape(run);
    assert.match(run.stderr, /Request/);
  });
});
