import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidRequest, VMNotFound } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { loadBuiltMethods } from '../../src/rpc/load-methods';
import { parseCpiConfig } from '../../src/config/cpi-config';

const dist = resolve(__dirname, '../../dist');

/** The two files of the build (docs/start-up.md), as dist/cpi.js loads them. */
describe('start-up: dist/cpi.js and dist/cpi-methods.js', () => {
  it('V8 accepts the code cache made for cpi-methods.js', () => {
    assert.equal(loadBuiltMethods(dist).cachedDataRejected, false);
  });

  it('cpi-methods.js carries no copy of the error classes: it takes the ones of cpi.js', async () => {
    const bundle = await readFile(join(dist, 'cpi-methods.js'), 'utf8');
    assert.ok(!bundle.includes('Bosh::Clouds::VMNotFound'), 'cpi-methods.js defines the error classes again');
    assert.ok((await readFile(join(dist, 'cpi.js'), 'utf8')).includes('Bosh::Clouds::VMNotFound'));
  });

  it('errors thrown in cpi-methods.js are instances of the classes cpi.js answers with', async () => {
    const { methods } = loadBuiltMethods(dist);
    const config = parseCpiConfig({
      warden: { connect_network: 'unix', connect_address: '/nonexistent/garden.sock' },
      actions: { state_dir: '/nonexistent/state' },
      agent: { mbus: 'nats://10.254.50.4:4222' },
    });
    const call = { apiVersion: 2 as const, requestId: 'cpi-1', logger: silentLogger };
    const hasDisk = await methods.loadMethod('has_disk', config, silentLogger);
    await assert.rejects(hasDisk!([7], call, 'has_disk'), (error: unknown) => error instanceof InvalidRequest);
    const current = await methods.loadMethod('current_vm_id', config, silentLogger);
    await assert.rejects(
      current!([], call, 'current_vm_id'),
      (error: unknown) => error instanceof Error && error.constructor.name === 'NotImplemented',
    );
    assert.equal(await methods.loadMethod('no_such_method', config, silentLogger), undefined);
    assert.ok(new VMNotFound('x') instanceof Error);
  });

  it('a call loads only the Node built-ins its work needs (no fetch/undici, http2, tls or https for a Garden call)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'start-up-'));
    try {
      // Prints, as the process exits, the built-in modules it loaded beyond what node itself starts with.
      const preload = join(dir, 'loaded.js');
      await writeFile(
        preload,
        "const base = new Set(process.moduleLoadList); process.on('exit', () => require('fs').writeSync(2, '\\nLOADED ' + JSON.stringify(process.moduleLoadList.filter((m) => !base.has(m)).map((m) => m.replace('NativeModule ', ''))) + '\\n'));",
      );
      const config = join(dir, 'cpi.json');
      await writeFile(
        config,
        JSON.stringify({
          warden: { connect_network: 'unix', connect_address: join(dir, 'no-garden.sock') },
          actions: { state_dir: join(dir, 'state'), disks_dir: join(dir, 'disks'), stemcells_dir: join(dir, 'stemcells') },
          agent: { mbus: 'nats://10.254.50.4:4222' },
        }),
      );
      const loaded = (method: string, args: unknown[]): string[] => {
        const run = spawnSync(process.execPath, ['-r', preload, join(dist, 'cpi.js'), config], {
          input: JSON.stringify({ method, arguments: args, context: { director_uuid: 'x' } }),
          encoding: 'utf8',
        });
        const line = run.stderr.split('\n').find((text) => text.startsWith('LOADED '));
        assert.ok(line !== undefined, run.stderr);
        return JSON.parse(line.slice('LOADED '.length)) as string[];
      };
      // has_vm asks Garden (here: no Garden, a CloudError) through axios.
      const garden = loaded('has_vm', ['vm-1']);
      assert.ok(garden.includes('http'), `has_vm loaded http: ${garden.join(', ')}`);
      for (const unused of ['internal/deps/undici/undici', 'http2', 'tls', 'https']) assert.ok(!garden.includes(unused), `has_vm loaded ${unused}`);
      // has_disk looks at a file: no HTTP at all.
      const disk = loaded('has_disk', ['disk-1']);
      assert.ok(!disk.includes('http'), `has_disk loaded http: ${disk.join(', ')}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
