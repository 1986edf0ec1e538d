import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Run in a fresh node each: which built-in modules a process has loaded is process-wide state.
function inFreshNode(script: string): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

describe('loadAxios (garden/load-axios.ts)', () => {
  it("loads axios without loading Node's fetch (undici) or web streams, and puts the globals back as they were", () => {
    const report = JSON.parse(
      inFreshNode(`
        const names = ['fetch', 'Request', 'Response', 'FormData', 'ReadableStream'];
        const before = names.map((name) => Object.getOwnPropertyDescriptor(globalThis, name));
        const { loadAxios } = require('./src/garden/load-axios');
        const already = new Set(process.moduleLoadList);
        const axios = loadAxios();
        const loaded = process.moduleLoadList.filter((m) => !already.has(m) && /undici|webstreams/.test(m));
        const same = names.every((name, i) => {
          const now = Object.getOwnPropertyDescriptor(globalThis, name);
          return now.get === before[i].get && now.set === before[i].set && now.value === before[i].value;
        });
        console.log(JSON.stringify({ loaded, same, create: typeof axios.default.create, fetch: typeof fetch }));
      `),
    ) as { loaded: string[]; same: boolean; create: string; fetch: string };
    assert.deepEqual(report.loaded, []);
    assert.equal(report.same, true, 'the globals are the same (lazy) accessors again');
    assert.equal(report.create, 'function');
    assert.equal(report.fetch, 'function', 'fetch still works for any other code');
  });

  it('a plain require of axios does load them (what loadAxios avoids)', () => {
    const loaded = inFreshNode(`require('axios'); console.log(process.moduleLoadList.filter((m) => /undici/.test(m)).length)`);
    assert.notEqual(loaded, '0');
  });
});
