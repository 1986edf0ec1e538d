import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { currentProcess, isProcessGone, processStartTime } from '../../src/host/process-identity';
import { parseTempName, tempName, tempPathBeside } from '../../src/host/temp-files';

describe('process identity (the one dead-process check) and temp names', () => {
  it('a process is gone when its pid is free or taken by a process that started at another time', () => {
    const self = currentProcess();
    assert.equal(self.pid, process.pid);
    assert.match(self.started, /^\d+$/);
    assert.equal(isProcessGone(self), false);
    assert.equal(isProcessGone({ pid: self.pid, started: String(Number(self.started) + 1) }), true, 'pid reused');
    const exited = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    assert.equal(isProcessGone({ pid: exited, started: '1' }), true, 'pid free');
    assert.equal(processStartTime(0), undefined);
  });

  it('temp names say what they are for and who writes them', () => {
    const self = currentProcess();
    const name = tempName('vm.json', 'tmp');
    assert.match(name, new RegExp(`^\\.vm\\.json\\.tmp-${self.pid}-${self.started}-[0-9a-f]{12}$`));
    assert.deepEqual(parseTempName(name), { name: 'vm.json', kind: 'tmp', pid: self.pid, started: self.started });
    assert.notEqual(tempName('vm.json', 'tmp'), name, 'fresh each time');
    assert.match(tempPathBeside('/a/b/disk-1', 'creating'), /^\/a\/b\/\.disk-1\.creating-\d+-\d+-[0-9a-f]+$/);
    for (const other of ['vm.json', '.data-abc-dir', '.x.tmp-1-abc', '.x.TMP-1-2-ab']) assert.equal(parseTempName(other), undefined, other);
  });
});
