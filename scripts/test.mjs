// Runs the test suites with node's test runner (Node 20 has no glob support in --test), in two passes:
//   1. every spec/**/*.spec.ts except those of the real peers (spec/real-garden/, spec/real-agent/,
//      spec/real-bosh/), against the embedded Garden emulator;
//   2. the suites that take a real Garden (REAL_GARDEN_SPECS), against a real gdn that
//      scripts/real-garden.sh builds from our pinned tools module, starts, and stops (leaving nothing),
//      the real-agent suites (spec/real-agent/) on a test stemcell with the real BOSH agent that
//      scripts/test-stemcell.sh builds (TEST_STEMCELL_DIR), and the real bosh CLI suites (spec/real-bosh/:
//      `npm run release` with the pinned CLI).
// Pass 2 (or its real-agent part) is skipped with a printed notice naming what is missing when gdn or the
// stemcell cannot be built here (no Go, no gcc, no debootstrap); with REQUIRE_REAL_PEERS=1 (.ci/run) that
// is a failure instead. Each pass prints one line per suite with its time (scripts/suite-reporter.mjs;
// failures with their tests and errors) and its wall time. Pass 1 runs TEST_CONCURRENCY suite files at once
// (default: twice the CPUs), the longest first (by the last run's times): every suite works in its own temp
// dirs, emulator, port, network namespace or chroot, so they share no host resource. After pass 1 the runner fails if anything appeared under src/
// (tests never write there). Usage:
//   node scripts/test.mjs                 both passes
//   node scripts/test.mjs FILE...         just these files, against the emulator
//   node scripts/test.mjs --real-garden   just pass 2 (npm run test:real-garden)
//   node scripts/test.mjs --real-agent    just the real-agent suites of pass 2 (npm run test:real-agent)
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const REAL_GARDEN_DIR = join('spec', 'real-garden');
const REAL_AGENT_DIR = join('spec', 'real-agent');
const REAL_BOSH_DIR = join('spec', 'real-bosh');
const TEST_STEMCELL_SCRIPT = join('scripts', 'test-stemcell.sh');
/** Suites that run against both Gardens; spec/real-garden/ holds those that only make sense on gdn. */
const REAL_GARDEN_SPECS = [join('spec', 'lifecycle', 'lifecycle.spec.ts'), join('spec', 'lifecycle', 'concurrency.spec.ts')];
const REAL_GARDEN_SCRIPT = join('scripts', 'real-garden.sh');

function specs(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return specs(path);
      return name.endsWith('.spec.ts') ? [path] : [];
    });
}

// Counts of every pass, for the one closing line (each pass also writes a TAP copy to read them from).
const totals = { passed: 0, failed: 0, skipped: 0 };
const tapDir = mkdtempSync(join(tmpdir(), 'garden-cpi-tests-'));

const SUITE_REPORTER = join('scripts', 'suite-reporter.mjs');
const EMULATOR_CONCURRENCY = Number(process.env.TEST_CONCURRENCY) || availableParallelism() * 2;

function minutes(ms) {
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
}

// Each spec file's time in the last run (.cache/test-durations.json, written by the suite reporter). Pass 1
// starts the longest first, so that a long suite never starts last and runs on alone while the cores idle;
// files without a time yet (new ones; a fresh clone) go first, largest first.
const DURATIONS_FILE = join('.cache', 'test-durations.json');

function readDurations() {
  try {
    return JSON.parse(readFileSync(DURATIONS_FILE, 'utf8'));
  } catch {
    return {};
  }
}

function longestFirst(files) {
  const durations = readDurations();
  const key = (file) => (file in durations ? durations[file] : Number.MAX_SAFE_INTEGER / 2 + statSync(file).size);
  return [...files].sort((a, b) => key(b) - key(a));
}

/** Merges this run's times into DURATIONS_FILE (written whole, then renamed). */
function saveDurations(measured) {
  let fresh = {};
  try {
    fresh = JSON.parse(readFileSync(measured, 'utf8'));
  } catch {
    return;
  }
  mkdirSync('.cache', { recursive: true });
  const temp = `${DURATIONS_FILE}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify({ ...readDurations(), ...fresh }, null, 1)}\n`);
  renameSync(temp, DURATIONS_FILE);
}

function runTests(name, files, { concurrency, env = {} }) {
  const tap = join(tapDir, `pass-${Date.now()}.tap`);
  const durations = join(tapDir, `durations-${Date.now()}.json`);
  console.log(`== ${name}: ${files.length} spec files, ${concurrency} at a time ==`);
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      `--test-reporter=./${SUITE_REPORTER}`,
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env, SUITE_DURATIONS_FILE: durations } },
  );
  console.log(`== ${name}: ${minutes(Date.now() - started)} wall time ==`);
  saveDurations(durations);
  let text = '';
  try {
    text = readFileSync(tap, 'utf8');
  } catch {
    totals.failed += 1; // the runner died before reporting: count it, the status says the rest
  }
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  totals.passed += count('pass');
  totals.failed += count('fail') + count('cancelled');
  totals.skipped += count('skipped') + count('todo');
  return result.status ?? 1;
}

/** Runs scripts/real-garden.sh; returns its exit status and stdout (stderr goes to ours). */
function realGarden(command) {
  const result = spawnSync('bash', [REAL_GARDEN_SCRIPT, command], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (command !== 'env') process.stdout.write(result.stdout ?? '');
  return { status: result.status ?? 1, stdout: result.stdout ?? '' };
}

/**
 * The real-agent test stemcell (built once, cached): `{ dir }`, or `{ skipped: true }` when a prerequisite is
 * missing and real peers are not required, or `{ failed: true }`.
 */
function testStemcell(required) {
  console.log('\n== test stemcell with the real BOSH agent ==');
  const result = spawnSync('bash', [TEST_STEMCELL_SCRIPT, 'build'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const dir = (result.stdout ?? '').trim().split('\n').pop() ?? '';
  if (result.status === 0 && dir !== '') return { dir };
  if (result.status === 2 && !required) {
    console.log('NOTICE: real-agent suites skipped: the test stemcell cannot be built on this machine (see the message above).');
    return { skipped: true };
  }
  console.error(`test-stemcell.sh build failed (exit ${result.status})`);
  return { failed: true };
}

/**
 * Pass 2: build (cached), start, run, stop. `only` 'agent' runs just the real-agent suites. Returns an
 * exit status (0 when skipped without being required).
 */
function realGardenPass(only) {
  const required = process.env.REQUIRE_REAL_PEERS === '1';
  console.log('\n== real Garden (gdn) suites ==');
  const build = realGarden('build');
  if (build.status !== 0) {
    // Exit status 2 means a prerequisite is missing (the script named it on stderr); anything else is a failure.
    if (build.status === 2 && !required) {
      console.log('NOTICE: real-Garden suites skipped: gdn cannot be built on this machine (see the message above).');
      console.log('        Install what it names, or run .ci/run, to run them. REQUIRE_REAL_PEERS=1 makes this a failure.');
      return 0;
    }
    console.error(`real-garden.sh build failed (exit ${build.status})`);
    return 1;
  }
  const stemcell = testStemcell(required);
  if (stemcell.failed) return 1;
  if (realGarden('start').status !== 0) {
    realGarden('stop');
    console.error('real-garden.sh start failed');
    return 1;
  }
  let status = 1;
  try {
    const env = Object.fromEntries(
      realGarden('env')
        .stdout.split('\n')
        .map((line) => line.match(/^([A-Z_]+)=(.*)$/))
        .filter((match) => match !== null)
        .map((match) => [match[1], match[2]]),
    );
    const agentFiles = stemcell.dir ? specs(REAL_AGENT_DIR) : [];
    const files = only === 'agent' ? agentFiles : [...REAL_GARDEN_SPECS, ...specs(REAL_GARDEN_DIR), ...agentFiles, ...specs(REAL_BOSH_DIR)];
    const stemcellEnv = stemcell.dir ? { TEST_STEMCELL_DIR: stemcell.dir } : {};
    // One suite at a time: they share one gdn, and each asserts that it leaves no container behind.
    status =
      files.length === 0
        ? 0
        : runTests('real Garden pass', files, {
            concurrency: 1,
            env: { ...env, ...stemcellEnv, GARDEN_UNDER_TEST: 'real', GARDEN_REAL_ADDRESS: env.GARDEN_ADDRESS ?? '' },
          });
  } finally {
    const stop = realGarden('stop');
    if (stop.status !== 0) {
      console.error('real-garden.sh stop left something behind (see above)');
      status = status === 0 ? 1 : status;
    }
  }
  return status;
}

const args = process.argv.slice(2);
if (args[0] === '--real-garden' || args[0] === '--real-agent') {
  const status = realGardenPass(args[0] === '--real-agent' ? 'agent' : 'all');
  rmSync(tapDir, { recursive: true, force: true });
  console.log(`\ntotal: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  process.exit(status);
}
/** What appeared under src/ that git does not track (ignored files included): tests must never write there. */
function untrackedUnderSrc() {
  const result = spawnSync('git', ['status', '--porcelain', '--ignored', '--untracked-files=all', '--', 'src'], { encoding: 'utf8' });
  if (result.status !== 0) return [];
  return result.stdout.split('\n').filter((line) => line.startsWith('??') || line.startsWith('!!'));
}

const files =
  args.length > 0
    ? args
    : specs('spec').filter((path) => ![REAL_GARDEN_DIR, REAL_AGENT_DIR, REAL_BOSH_DIR].some((dir) => path.startsWith(`${dir}/`)));
const srcBefore = new Set(untrackedUnderSrc());
let emulatorStatus = runTests('emulator pass', longestFirst(files), { concurrency: EMULATOR_CONCURRENCY });
const written = untrackedUnderSrc().filter((line) => !srcBefore.has(line));
if (written.length > 0) {
  console.error(`tests wrote into src/ (write into a temp dir instead):\n  ${written.join('\n  ')}`);
  emulatorStatus = emulatorStatus || 1;
}
const realStatus = args.length > 0 ? 0 : realGardenPass('all');
rmSync(tapDir, { recursive: true, force: true });
const status = emulatorStatus !== 0 ? emulatorStatus : realStatus;
console.log(`\ntotal: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status !== 0 || totals.failed > 0 ? status || 1 : 0);
