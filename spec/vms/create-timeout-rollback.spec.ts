import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forceCleanup } from '../../testkit/cpi-environment';
import { mountsUnder } from '../../testkit/leak-checker';
import { request, runCpi, tempConfig } from '../../testkit/cpi-process';
import { RUN_HEAD, type RawServer, jsonResponse, startRawServer } from '../garden/raw-garden-server';
import { manualNetworks } from '../../testkit/networks';

// A create that misses its deadline may still be made by Garden after the rollback's destroy found
// nothing: the records stay and the next create_vm destroys the late container.

const MANUAL_NETWORK = manualNetworks('10.244.0.34');
const NOT_FOUND = (handle: string) =>
  `{"Type":"ContainerNotFoundError","Message":"unknown handle: ${handle}","Handle":"${handle}","ProcessID":"","Binary":""}\n`;

describe('create_vm whose Garden create times out', () => {
  const containers = new Set<string>();
  const destroyed: string[] = [];
  let createHangs = true;
  let server: RawServer;
  let dir: string;
  let configPath: string;
  let stateDir: string;

  before(async () => {
    server = await startRawServer('tcp', async (connection) => {
      const req = await connection.readRequest();
      if (!req) return;
      const handle = decodeURIComponent(/^\/containers\/([^/?]+)/.exec(req.target)?.[1] ?? '');
      if (req.method === 'POST' && req.target === '/containers') {
        const wanted = (JSON.parse(req.body.toString()) as { handle: string }).handle;
        if (createHangs) {
          await connection.closed(); // Garden keeps working on it and never answers in time
          return;
        }
        containers.add(wanted);
        connection.end(jsonResponse(200, `{"Handle":"${wanted}"}`));
      } else if (req.method === 'DELETE') {
        destroyed.push(handle);
        connection.end(containers.delete(handle) ? jsonResponse(200, '{}') : jsonResponse(404, NOT_FOUND(handle)));
      } else if (req.method === 'POST' && req.target.endsWith('/processes')) {
        connection.write(`${RUN_HEAD}{"process_id":"agent","stream_id":"1"}\n`);
        await connection.closed();
      } else {
        connection.end(jsonResponse(200, '{}'));
      }
    });
    const made = await tempConfig();
    dir = made.dir;
    configPath = made.configPath;
    const actions = made.config.actions as Record<string, string>;
    stateDir = actions.state_dir ?? '';
    await mkdir(join(actions.stemcells_dir ?? '', 'sc-runit/usr/sbin'), { recursive: true });
    await writeFile(join(actions.stemcells_dir ?? '', 'sc-runit/usr/sbin/runsvdir-start'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(
      configPath,
      JSON.stringify({
        ...made.config,
        warden: {
          connect_network: 'tcp',
          connect_address: server.address,
          garden_init_path: null,
          request_timeout_seconds: 2,
          long_request_timeout_seconds: 1,
        },
      }),
    );
  });
  after(async () => {
    await server.close();
    await forceCleanup(dir);
  });

  it('answers VMCreationFailed (ok_to_retry), keeps the records, and the next create_vm destroys the late container', async () => {
    const first = await runCpi(configPath, request('create_vm', ['agent-1', 'sc-runit', {}, MANUAL_NETWORK, [], {}], { api_version: 2 }));
    assert.equal(first.response.error?.type, 'Bosh::Clouds::VMCreationFailed', JSON.stringify(first.response));
    assert.equal(first.response.error?.ok_to_retry, true);
    assert.match(first.response.error?.message ?? '', /no complete answer within 1 s/);
    assert.equal(destroyed.length, 1, 'the rollback tried to destroy');
    const late = destroyed[0] ?? '';
    assert.ok(existsSync(join(stateDir, 'vms', late, 'creating.json')), 'the creating marker stays for the next create_vm');
    assert.deepEqual(await mountsUnder([dir]), [], 'host mounts were undone');

    // Garden finishes the create after the rollback's destroy found nothing.
    containers.add(late);
    createHangs = false;

    const second = await runCpi(configPath, request('create_vm', ['agent-2', 'sc-runit', {}, MANUAL_NETWORK, [], {}], { api_version: 2 }));
    assert.equal(second.response.error, null, JSON.stringify(second.response));
    const vm = (second.response.result as [string])[0];
    assert.deepEqual([...containers], [vm], 'the late container was destroyed');
    assert.equal(existsSync(join(stateDir, 'vms', late)), false);

    const deleted = await runCpi(configPath, request('delete_vm', [vm]));
    assert.equal(deleted.response.error, null, JSON.stringify(deleted.response));
    assert.deepEqual([...containers], []);
    assert.deepEqual(await mountsUnder([dir]), []);
  });
});
