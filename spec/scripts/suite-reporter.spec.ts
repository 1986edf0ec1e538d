import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

// scripts/suite-reporter.mjs is what CI prints: a red run must say why, hooks included.

const REPORTER = resolve(__dirname, '../../scripts/suite-reporter.mjs');

// Suites that fail in each way node:test knows, and one that passes.
const FIXTURE = `
import { describe, it, before, after } from 'node:test';
describe('before hook throws', () => {
  before(() => { throw new Error('gdn did not answer /ping'); });
  it('cancelled one', () => {});
  it('cancelled two', () => {});
});
describe('nested before hook throws', () => {
  describe('inner', () => {
    before(() => { throw new Error('inner hook broke'); });
    it('cancelled three', () => {});
  });
  it('passes', () => {});
});
describe('after hook throws', () => {
  after(() => { throw new Error('leak check: a mount stayed'); });
  it('passes', () => {});
});
describe('a test fails', () => {
  it('fails', () => { throw new Error('expected 2, got 3'); });
  it('passes', () => {});
});
describe('all good', () => {
  it('passes', () => {});
});
describe('a subtest not awaited', () => {
  it('parent', (t) => {
    t.test('forgotten child', async () => new Promise((resolve) => setTimeout(resolve, 200)));
  });
});
describe('suite times out', { timeout: 300 }, () => {
  it('slow test', async () => new Promise((resolve) => setTimeout(resolve, 2000)));
  it('next test', () => {});
});
`;

describe('suite reporter', () => {
  let dir: string;
  let output: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'suite-reporter-'));
    await writeFile(join(dir, 'fixture.spec.mjs'), FIXTURE);
    // The fixture fails on purpose, so node exits 1: the output is what matters. Without NODE_TEST_CONTEXT
    // (set by the runner running this spec) the child reports on its own instead of to its parent.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    output = await promisify(execFile)(process.execPath, ['--test', `--test-reporter=${REPORTER}`, 'fixture.spec.mjs'], { cwd: dir, env }).then(
      (run) => run.stdout,
      (error: { stdout?: string }) => error.stdout ?? '',
    );
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /** The lines of one suite's block: its FAIL/ok line and what is indented under it. */
  function block(name: string): string {
    const lines = output.split('\n');
    const start = lines.findIndex((line) => line.includes(`  ${name}  (`));
    assert.notEqual(start, -1, `no line for suite '${name}' in:\n${output}`);
    const end = lines.findIndex((line, index) => index > start && /^(ok|FAIL) /.test(line));
    return lines
      .slice(start, end === -1 ? undefined : end)
      .filter((line) => line.trim() !== '')
      .join('\n');
  }

  it("prints a suite's failed before hook first, and names the tests it cancelled on one line", () => {
    const text = block('before hook throws');
    assert.match(text, /^FAIL .*\n\s+gdn did not answer \/ping\n/);
    assert.match(text, /✗ cancelled when their parent failed: cancelled one, cancelled two$/);
    assert.doesNotMatch(text, /did not finish before its parent/);
  });

  it("prints a nested suite's failed hook under its top-level suite", () => {
    const text = block('nested before hook throws');
    assert.match(text, /✗ inner\n\s+inner hook broke/);
    assert.match(text, /cancelled when their parent failed: cancelled three/);
  });

  it('names a subtest its parent did not await, and the tests of a suite that timed out', () => {
    assert.match(block('a subtest not awaited'), /cancelled when their parent failed: forgotten child/);
    const timedOut = block('suite times out');
    assert.match(timedOut, /timed out after 300ms/);
    assert.match(timedOut, /cancelled when their parent failed: slow test, next test/);
  });

  it('prints a failed after hook of a suite whose tests passed', () => {
    const text = block('after hook throws');
    assert.match(text, /^FAIL /);
    assert.match(text, /leak check: a mount stayed/);
  });

  it('prints a failed test with its error, and passing suites as one ok line', () => {
    assert.match(block('a test fails'), /✗ fails\n\s+expected 2, got 3/);
    assert.match(block('all good'), /^ok /);
    assert.equal(block('all good').split('\n').length, 1);
  });
});
