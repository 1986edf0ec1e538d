import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCommandRunner, type CommandRunner } from '../../src/host/command-runner';
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';
import { createIptablesPortForwarding, portRuleComment } from '../../src/vms/iptables-ports';
import { parsePortMapping } from '../../src/vms/port-mappings';

// Real iptables, inside a network namespace of our own: the host's rules are never touched.
const netns = `cpi-spec-${randomBytes(4).toString('hex')}`;
const base = createCommandRunner();
const inNetns: CommandRunner = { run: (command, args, options) => base.run('ip', ['netns', 'exec', netns, command, ...args], options) };

function natRules(): string[] {
  return execFileSync('ip', ['netns', 'exec', netns, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('-A '));
}

describe('iptables port forwarding (real iptables in a private netns)', () => {
  let dir: string;
  before(async () => {
    execFileSync('ip', ['netns', 'add', netns]);
    dir = await mkdtemp(join(tmpdir(), 'cpi-ports-'));
  });
  after(async () => {
    execFileSync('ip', ['netns', 'delete', netns]);
    await rm(dir, { recursive: true, force: true });
  });

  it("adds upstream-shaped DNAT rules tagged with the VM cid and removes only that VM's rules", async () => {
    const ports = createIptablesPortForwarding(inNetns, createFileLocks(join(dir, 'locks'), silentLogger), silentLogger);
    await ports.forward('vm-a', '10.244.0.34', [
      parsePortMapping({ host: '80', container: '8080' }),
      parsePortMapping({ host: '1000:1010', protocol: 'udp' }),
    ]);
    await ports.forward('vm-b', '10.244.0.35', [parsePortMapping({ host: '22' })]);
    const rules = natRules();
    assert.equal(rules.length, 3);
    const web = rules.find((rule) => rule.includes('--dport 80 '));
    assert.ok(web?.includes('! -i w+'), web);
    assert.ok(web?.includes(`--comment ${portRuleComment('vm-a')}`), web);
    assert.ok(web?.includes('--to-destination 10.244.0.34:8080'), web);
    assert.ok(rules.some((rule) => rule.includes('-p udp') && rule.includes('--dport 1000:1010') && rule.includes('10.244.0.34:1000-1010')));

    await ports.removeForwarded('vm-a');
    assert.deepEqual(
      natRules().map((rule) => rule.includes('vm-b')),
      [true],
    );
    await ports.removeForwarded('vm-a'); // nothing left: still fine
    await ports.removeForwarded('vm-b');
    assert.deepEqual(natRules(), []);
  });

  it('removes the rules it already added when a later one fails', async () => {
    const ports = createIptablesPortForwarding(inNetns, createFileLocks(join(dir, 'locks'), silentLogger), silentLogger);
    // A protocol iptables does not know makes the second rule fail.
    const bad = { ...parsePortMapping({ host: '81' }), protocol: 'no-such-protocol' };
    await assert.rejects(ports.forward('vm-c', '10.244.0.36', [parsePortMapping({ host: '80' }), bad]), /Forwarding host port\(s\) '81'/);
    assert.deepEqual(natRules(), []);
  });
});
