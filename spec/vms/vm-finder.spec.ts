import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMNotFound } from '../../src/errors/cpi-errors';
import { GardenContainerNotFound, GardenError, GardenUnreachable, type GardenClient } from '../../src/garden/garden-client';
import { createVmFinder, isMissingContainer } from '../../src/vms/vm-finder';

describe('VmFinder', () => {
  let root = '';
  let dirs: { state_dir: string; host_ephemeral_bind_mounts_dir: string; host_persistent_bind_mounts_dir: string };
  const asked: string[] = [];
  const garden = {
    list: async () => {
      asked.push('list');
      return ['running', 'upstream-made'];
    },
  } satisfies Pick<GardenClient, 'list'>;
  const downGarden = {
    list: async () => Promise.reject(new GardenUnreachable('connect ECONNREFUSED', { route: 'GET /containers', code: 'ECONNREFUSED' })),
  } satisfies Pick<GardenClient, 'list'>;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vm-finder-spec-'));
    dirs = { state_dir: join(root, 'state'), host_ephemeral_bind_mounts_dir: join(root, 'e'), host_persistent_bind_mounts_dir: join(root, 'p') };
    for (const vm of ['running', 'restarted']) await mkdir(join(dirs.state_dir, 'vms', vm), { recursive: true });
    // The upstream CPI keeps no state dir: its leftovers are the host bind-mount dirs.
    await mkdir(join(dirs.host_persistent_bind_mounts_dir, 'upstream-restarted'), { recursive: true });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('asks Garden for every VM: present, gone (host state left) or never', async () => {
    const finder = createVmFinder({ garden, dirs });
    asked.length = 0;
    assert.equal(await finder.find('running'), 'present');
    assert.equal(await finder.find('upstream-made'), 'present');
    assert.equal(await finder.find('restarted'), 'gone', 'host records do not make a VM exist');
    assert.equal(await finder.find('upstream-restarted'), 'gone');
    assert.equal(await finder.find('never-made'), 'never');
    assert.deepEqual(asked, ['list', 'list', 'list', 'list', 'list']);
  });

  it("asks for the list of handles, never a container's info (gdn runs the OCI runtime for info: 31 ms, the list 1.2 ms)", async () => {
    const routes: string[] = [];
    const both = {
      list: async () => (routes.push('GET /containers'), ['running']),
      info: async (handle: string) => (routes.push(`GET /containers/${handle}/info`), {} as Awaited<ReturnType<GardenClient['info']>>),
    };
    const finder = createVmFinder({ garden: both, dirs });
    assert.equal(await finder.find('running'), 'present');
    await finder.requirePresent('running');
    assert.equal(await finder.find('restarted'), 'gone');
    assert.deepEqual(routes, ['GET /containers', 'GET /containers', 'GET /containers']);
  });

  it('rethrows what is not a "no such container" answer: it cannot tell', async () => {
    const finder = createVmFinder({ garden: downGarden, dirs });
    await assert.rejects(finder.find('running'), GardenUnreachable);
    await assert.rejects(finder.requirePresent('running'), GardenUnreachable);
  });

  it('requirePresent answers VMNotFound naming the state', async () => {
    const finder = createVmFinder({ garden, dirs });
    await finder.requirePresent('running');
    await assert.rejects(finder.requirePresent('restarted'), (error: Error) => {
      assert.ok(error instanceof VMNotFound);
      assert.match(error.message, /^VM 'restarted' not found: Garden has no container 'restarted' \(its host state is left for delete_vm\)$/);
      return true;
    });
    await assert.rejects(finder.requirePresent('never-made'), /^VMNotFound: VM 'never-made' not found: no such VM$/);
  });

  it("reads every Garden way of saying 'no such container', and only those", async () => {
    const notFound = new GardenContainerNotFound('unknown handle', { route: 'DELETE /containers/x', handle: 'x' });
    const stopGone = new GardenError('pid not found for container: x', { route: 'PUT /containers/x/stop', status: 500 });
    const streamGone = new GardenError('unknown handle: x', { route: 'GET /containers/x/files', status: 500 });
    const runGone = new GardenError('container x not found', { route: 'POST /containers/x/processes', status: 500 });
    const other = new GardenError('disk full', { route: 'PUT /containers/x/stop', status: 500 });
    assert.deepEqual([notFound, stopGone, streamGone, runGone, other, new Error('pid not found')].map(isMissingContainer), [
      true,
      true,
      true,
      true,
      false,
      false,
    ]);

    const finder = createVmFinder({ garden, dirs });
    assert.deepEqual(await finder.tryContainer('x', async () => 7), { found: true, value: 7 });
    assert.deepEqual(await finder.tryContainer('x', () => Promise.reject(stopGone)), { found: false });
    await assert.rejects(
      finder.tryContainer('x', () => Promise.reject(other)),
      /disk full/,
    );
    await assert.rejects(
      finder.onContainer('restarted', () => Promise.reject(streamGone)),
      /^VMNotFound: VM 'restarted' not found: Garden has no container/,
    );
    await assert.rejects(
      finder.onContainer('x', () => Promise.reject(notFound)),
      /^VMNotFound: VM 'x' not found: no such VM$/,
    );
  });

  it('refuses a cid that is not a plain id before touching a path or Garden', async () => {
    const finder = createVmFinder({ garden, dirs });
    asked.length = 0;
    await assert.rejects(finder.find('../vms'), /Invalid VM cid/);
    assert.deepEqual(asked, []);
  });
});
