import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
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
});
