import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { type CpiCall, parseCpiCalls, totalsByMethod } from '../testkit/create-env/cpi-call-log';
import { type IptablesRules, iptablesRules, newRules } from '../testkit/create-env/host-rules';
import { goProgram } from '../testkit/go-program';
import { findLeaks } from '../testkit/leak-checker';

/**
 * `npm run demo:create-env`: the real bosh CLI (pinned in tools/bosh) deploys a one-VM environment through
 * garden-cpi onto a real gdn with the real BOSH agent, then changes it twice and deletes it (issue #13):
 *   1. create-env: the disk-marker job (testkit/create-env/release) writes a marker on its persistent disk and
 *      answers /health, checked from this host;
 *   2. create-env with a bigger persistent disk: the CLI migrates the disk; the marker survives;
 *   3. create-env with a changed job property: the VM is recreated, the disk re-attached, the marker kept;
 *   4. delete-env, then a leak check (containers, mounts, loop devices, iptables rules, stemcells, disks,
 *      CPI state files, the CLI's state and installation).
 * Every stage prints its time and the CPI calls it made (method, count, total ms: the CPI's own time from
 * its response log, read back from the CLI's debug log).
 *
 * Prerequisites: root, Go (/usr/local/go/bin), ruby (the CLI renders ERB with it), Debian's archive for the
 * test stemcell. Environment:
 *   CREATE_ENV_STEMCELL  a stemcell tarball with the real agent (default: built by scripts/test-stemcell.sh)
 *   GARDEN_TAG, GARDEN_PORT, GARDEN_STATE_DIR, GARDEN_NETWORK_POOL, GARDEN_CACHE_DIR
 *                        the gdn of scripts/real-garden.sh to deploy to: started when it is not running, and
 *                        then stopped at the end (a running one is left running)
 *   BOSH_TOOLS_CACHE_DIR, TEST_STEMCELL_CACHE_DIR
 *                        where scripts/real-bosh.sh and scripts/test-stemcell.sh keep their builds
 *   CREATE_ENV_WORK_DIR  work dir (default: a new /var/tmp/garden-cpi-create-env-*; kept when a stage fails)
 *   CREATE_ENV_KEEP=1    after a failed stage, keep the environment (default: delete-env it, best effort)
 *   CREATE_ENV_SUBNET    the VM's /24, outside gdn's pool (default 10.244.<pool's third octet + 2>.0/24);
 *                        the VM is .10 in it, the gateway .1
 */

const repoDir = resolve(__dirname, '..');
const fixtureRelease = join(repoDir, 'testkit', 'create-env', 'release');
const manifestPath = join(repoDir, 'testkit', 'create-env', 'manifest.yml');
const HEALTH_PORT = 8080;

interface Health {
  status: string;
  greeting: string;
  marker: string;
  store_mounted: boolean;
  store_size_mib: number;
}

interface StageResult {
  name: string;
  seconds: number;
  calls: CpiCall[];
}

class DemoFailure extends Error {}

function check(condition: boolean, message: string): void {
  if (!condition) throw new DemoFailure(message);
}

/** Runs a command to completion; its stdout, or an error with its stderr's tail. */
function runQuiet(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? repoDir,
    env: options.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new DemoFailure(
      `${command} ${args.join(' ')} failed (exit ${String(result.status)}):\n${(result.stderr ?? '').split('\n').slice(-30).join('\n')}`,
    );
  }
  return result.stdout;
}

/** Runs a command with its output indented on our stdout and copied to `logFile`. */
function runShown(command: string, args: string[], options: { env: NodeJS.ProcessEnv; logFile: string }): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const log = createWriteStream(options.logFile);
    const child = spawn(command, args, { cwd: repoDir, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const show = (chunk: Buffer): void => {
      log.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`    | ${line}\n`);
    };
    child.stdout.on('data', show);
    child.stderr.on('data', show);
    child.on('error', reject);
    child.on('close', (code) => {
      if (pending !== '') process.stdout.write(`    | ${pending}\n`);
      log.end(() => resolvePromise(code ?? 1));
    });
  });
}

/**
 * The VM's static network. gdn refuses a static subnet that overlaps its dynamic pool ("the requested
 * subnet overlaps the dynamic allocation range"), so it lies outside it, in BOSH Lite's 10.244.0.0/16:
 * 10.244.<pool's third octet + 2>.0/24 (10.244.34.0/24 for the pool 10.254.32.0/22), so that engineers
 * with distinct pools get distinct subnets. CREATE_ENV_SUBNET (an a.b.c.0/24) overrides it.
 */
function staticNetwork(pool: string, override: string | undefined): { cidr: string; gateway: string; ip: string } {
  let prefix: string;
  if (override !== undefined && override !== '') {
    const match = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(override);
    if (!match?.[1]) throw new DemoFailure(`CREATE_ENV_SUBNET must be an a.b.c.0/24, got '${override}'`);
    prefix = match[1];
  } else {
    const match = /^\d+\.\d+\.(\d+)\.\d+\/\d+$/.exec(pool);
    if (!match) throw new DemoFailure(`GARDEN_NETWORK_POOL must be an IPv4 CIDR, got '${pool}'`);
    prefix = `10.244.${(Number(match[1]) + 2) % 256}`;
  }
  return { cidr: `${prefix}.0/24`, gateway: `${prefix}.1`, ip: `${prefix}.10` };
}

function realGarden(command: 'start' | 'stop' | 'status' | 'env'): { status: number; stdout: string } {
  const result = spawnSync('bash', [join(repoDir, 'scripts', 'real-garden.sh'), command], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  return { status: result.status ?? 1, stdout: result.stdout ?? '' };
}

function httpGetJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolvePromise, reject) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        try {
          resolvePromise({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new Error(`${url} answered ${String(response.statusCode)} with non-JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** GET /health from this host, retried for up to 60 s (monit may still be starting the job). */
async function health(ip: string): Promise<Health> {
  const url = `http://${ip}:${HEALTH_PORT}/health`;
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const answer = await httpGetJson(url, 5_000);
      if (answer.status === 200) return answer.body as Health;
      last = `HTTP ${answer.status}: ${JSON.stringify(answer.body)}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((wake) => setTimeout(wake, 1_000));
  }
  throw new DemoFailure(`the health check ${url} did not answer 200 within 60 s (last: ${last})`);
}

async function gardenContainers(address: string): Promise<string[]> {
  const answer = await httpGetJson(`http://${address}/containers`, 10_000);
  // gdn answers {"Handles": [...]}.
  const handles = (answer.body as { Handles?: unknown }).Handles;
  return Array.isArray(handles) ? handles.map(String) : [];
}

/** Every non-directory under `dir` (recursively); none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => !entry.isDirectory()).map((entry) => join(entry.parentPath, entry.name));
}

interface CliState {
  current_vm_cid?: string;
  current_disk_id?: string;
  disks?: { cid: string; size: number }[];
  stemcells?: { cid: string }[];
}

async function readCliState(path: string): Promise<CliState | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as CliState);
}

function printCalls(calls: readonly CpiCall[]): void {
  const rows = totalsByMethod(calls);
  if (rows.length === 0) {
    console.log('    CPI calls: none');
    return;
  }
  console.log(`    ${'CPI method'.padEnd(22)}${'calls'.padStart(6)}${'total ms'.padStart(10)}`);
  for (const row of rows) {
    const errors = row.errors > 0 ? `  (${row.errors} failed)` : '';
    console.log(`    ${row.method.padEnd(22)}${String(row.count).padStart(6)}${String(row.totalMs).padStart(10)}${errors}`);
  }
  // The CLI hands its BOSH_LOG_LEVEL (debug) to the CPI: show only what the CPI warned about.
  const logged = calls.flatMap((call) => call.stderr.filter((line) => / (WARN|ERROR) /.test(line)).map((line) => `${call.method}: ${line}`));
  if (logged.length > 0) {
    console.log('    CPI warnings and errors (its stderr log):');
    for (const line of logged.slice(0, 20)) console.log(`      ${line}`);
    if (logged.length > 20) console.log(`      … ${logged.length - 20} more`);
  }
}

/**
 * Last-resort cleanup: the VM, disks and stemcells that the CLI's state lists, deleted by calling the CPI
 * the CLI installed (its compiled warden_cpi package) with a cpi.json of the manifest's cloud_provider
 * properties. For a failed stage whose `delete-env` fails too (e.g. an agent that cannot stop its jobs).
 */
async function deleteThroughCpi(options: {
  home: string;
  statePath: string;
  cpiStore: string;
  gardenAddress: string;
  logFile: string;
}): Promise<void> {
  const state = await readCliState(options.statePath);
  const installations = await readdir(join(options.home, '.bosh', 'installations')).catch(() => []);
  const launcher = installations
    .map((id) => join(options.home, '.bosh', 'installations', id, 'packages', 'warden_cpi', 'bin', 'cpi'))
    .find((path) => existsSync(path));
  if (state === undefined || launcher === undefined) {
    console.log('  no CLI state or no installed CPI: nothing more to delete');
    return;
  }
  // The manifest's cloud_provider properties (testkit/create-env/manifest.yml), as the job's cpi.json.erb renders them.
  const store = options.cpiStore;
  const config = {
    warden: { connect_network: 'tcp', connect_address: options.gardenAddress, garden_init_path: null },
    actions: {
      stemcells_dir: join(store, 'stemcells'),
      expand_stemcell_tarball: true,
      disks_dir: join(store, 'disks'),
      host_ephemeral_bind_mounts_dir: join(store, 'ephemeral_bind_mounts_dir'),
      host_persistent_bind_mounts_dir: join(store, 'persistent_bind_mounts_dir'),
      guest_ephemeral_bind_mount_path: '/var/vcap/data',
      guest_persistent_bind_mounts_dir: '/warden-cpi-dev',
      state_dir: join(store, 'cpi_state'),
    },
    agent: { mbus: 'https://mbus:unused@0.0.0.0:6868', ntp: [], blobstore: { provider: 'local', options: {} } },
    start_containers_with_systemd: false,
    log_level: 'info',
  };
  const configPath = join(dirname(options.logFile), 'cleanup-cpi.json');
  await writeFile(configPath, `${JSON.stringify(config)}\n`);
  const requests = [
    ...(state.current_vm_cid ? [{ method: 'delete_vm', arguments: [state.current_vm_cid] }] : []),
    ...(state.disks ?? []).map((disk) => ({ method: 'delete_disk', arguments: [disk.cid] })),
    ...(state.stemcells ?? []).map((stemcell) => ({ method: 'delete_stemcell', arguments: [stemcell.cid] })),
  ];
  for (const request of requests) {
    const result = spawnSync(launcher, [configPath], { input: JSON.stringify({ ...request, context: {} }), encoding: 'utf8' });
    await writeFile(options.logFile, `${request.method} ${JSON.stringify(request.arguments)}\n${result.stdout}\n${result.stderr}\n`, { flag: 'a' });
    console.log(`  CPI ${request.method} ${String(request.arguments[0])}: ${result.stdout.trim() || `exit ${String(result.status)}`}`);
  }
  await rm(options.statePath, { force: true });
}

async function main(): Promise<void> {
  check(process.getuid?.() === 0, 'the demo needs root: garden-cpi mounts disks and creates loop devices, gdn needs root');
  check(
    spawnSync('ruby', ['--version']).status === 0,
    'ruby is required: the bosh CLI renders the job templates (ERB) with it (apt-get install ruby)',
  );
  const pool = process.env.GARDEN_NETWORK_POOL ?? '10.254.0.0/22';
  const network = staticNetwork(pool, process.env.CREATE_ENV_SUBNET);
  const work = process.env.CREATE_ENV_WORK_DIR ?? (await mkdtemp('/var/tmp/garden-cpi-create-env-'));
  const cpiStore = join(work, 'store');
  const logs = join(work, 'logs');
  const home = join(work, 'home');
  await mkdir(logs, { recursive: true });
  await mkdir(home, { recursive: true });
  console.log(`work dir: ${work}`);

  const started = Date.now();
  // Prerequisites: the CLI, garden-cpi's release, the test release, the stemcell, gdn.
  console.log('\n== preparing: bosh CLI, releases, stemcell, gdn ==');
  const toolsDir = runQuiet('bash', [join(repoDir, 'scripts', 'real-bosh.sh'), 'build']).trim();
  const bosh = join(toolsDir, 'bosh');
  console.log(`bosh CLI: ${runQuiet(bosh, ['--version']).trim()} (${bosh})`);

  const gardenCpiRelease = join(work, 'garden-cpi.tgz');
  runQuiet('bash', [join(repoDir, 'scripts', 'release.sh')], { env: { ...process.env, BOSH_CLI: bosh, TARBALL: gardenCpiRelease } });
  console.log(`garden-cpi release: ${gardenCpiRelease}`);

  const releaseCopy = join(work, 'disk-marker-release');
  await rm(releaseCopy, { recursive: true, force: true });
  await cp(fixtureRelease, releaseCopy, { recursive: true });
  const healthServer = await goProgram('tools/bosh', './health-server');
  if ('missing' in healthServer) throw new DemoFailure(`building tools/bosh/health-server needs ${healthServer.missing}`);
  await mkdir(join(releaseCopy, 'src', 'health-server'), { recursive: true });
  await copyFile(healthServer.binary, join(releaseCopy, 'src', 'health-server', 'health-server'));
  const diskMarkerRelease = join(work, 'disk-marker.tgz');
  runQuiet(bosh, ['create-release', '--force', '--sha2', '--tarball', diskMarkerRelease], { cwd: releaseCopy, env: { ...process.env, HOME: home } });
  console.log(`disk-marker release: ${diskMarkerRelease}`);

  let stemcell = process.env.CREATE_ENV_STEMCELL ?? '';
  if (stemcell === '') {
    const script = join(repoDir, 'scripts', 'test-stemcell.sh');
    check(
      existsSync(script),
      'no stemcell: set CREATE_ENV_STEMCELL to a warden stemcell tarball with the real agent (scripts/test-stemcell.sh is not there to build one)',
    );
    stemcell = join(runQuiet('bash', [script, 'build']).trim(), 'stemcell.tgz');
  }
  check(existsSync(stemcell), `stemcell ${stemcell} does not exist`);
  console.log(`stemcell: ${stemcell}`);

  const gardenWasRunning = realGarden('status').status === 0;
  if (!gardenWasRunning) {
    console.log('starting gdn (scripts/real-garden.sh start)');
    check(realGarden('start').status === 0, 'scripts/real-garden.sh start failed');
  }
  const gardenAddress = /^GARDEN_ADDRESS=(.*)$/m.exec(realGarden('env').stdout)?.[1] ?? '';
  check(gardenAddress !== '', 'scripts/real-garden.sh env printed no GARDEN_ADDRESS');
  const tag = process.env.GARDEN_TAG ?? 'z';
  console.log(`gdn: ${gardenAddress} (tag ${tag}, pool ${pool}); VM IP ${network.ip}`);
  console.log(`prepared in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const rulesBefore: IptablesRules = iptablesRules();
  const containersBefore = await gardenContainers(gardenAddress);
  check(containersBefore.length === 0, `gdn at ${gardenAddress} already has containers: ${containersBefore.join(', ')}`);

  const statePath = join(work, 'state.json');
  const varsStore = join(work, 'creds.yml');
  const cliEnv = (logPath: string): NodeJS.ProcessEnv => ({
    ...process.env,
    HOME: home,
    BOSH_LOG_LEVEL: 'debug',
    BOSH_LOG_PATH: logPath,
    BOSH_NON_INTERACTIVE: 'true',
  });
  const variables = (diskSize: number, greeting: string): string[] =>
    Object.entries({
      garden_cpi_release: gardenCpiRelease,
      disk_marker_release: diskMarkerRelease,
      stemcell,
      garden_address: gardenAddress,
      cpi_store: cpiStore,
      internal_ip: network.ip,
      internal_cidr: network.cidr,
      internal_gw: network.gateway,
      disk_size: String(diskSize),
      greeting,
    }).flatMap(([name, value]) => ['-v', `${name}=${value}`]);

  const stages: StageResult[] = [];
  const stage = async (name: string, command: 'create-env' | 'delete-env', diskSize: number, greeting: string): Promise<StageResult> => {
    const slug = name.replace(/[^a-z0-9]+/gi, '-');
    console.log(`\n== stage ${stages.length + 1}: ${name} (bosh ${command}) ==`);
    const cliLog = join(logs, `${slug}.debug.log`);
    const begin = Date.now();
    // --tty: without a terminal the CLI prints nothing of its progress.
    const status = await runShown(
      bosh,
      [command, '--tty', manifestPath, '--state', statePath, '--vars-store', varsStore, ...variables(diskSize, greeting)],
      {
        env: cliEnv(cliLog),
        logFile: join(logs, `${slug}.out.log`),
      },
    );
    const seconds = (Date.now() - begin) / 1000;
    const calls = parseCpiCalls(await readFile(cliLog, 'utf8').catch(() => ''));
    const result = { name, seconds, calls };
    stages.push(result);
    console.log(`  ${name}: ${seconds.toFixed(1)} s, exit ${status}`);
    printCalls(calls);
    check(status === 0, `bosh ${command} failed in stage '${name}' (exit ${status}); CLI debug log: ${cliLog}`);
    return result;
  };
  const methods = (result: StageResult): string[] => result.calls.map((call) => call.method);

  let failure: unknown;
  try {
    // 1. create-env
    await stage('create-env', 'create-env', 1024, 'hello');
    const first = await health(network.ip);
    const firstVm = (await readCliState(statePath))?.current_vm_cid;
    console.log(`  health from the host: ${JSON.stringify(first)} (VM ${String(firstVm)})`);
    check(
      first.greeting === 'hello' && first.store_mounted && first.marker !== '',
      'the job must answer with the greeting and a marker on a mounted persistent disk',
    );

    // 2. a bigger persistent disk: migration
    const migration = await stage('disk migration', 'create-env', 2048, 'hello');
    for (const method of ['create_disk', 'attach_disk', 'detach_disk', 'delete_disk']) {
      check(methods(migration).includes(method), `the disk migration made no ${method} call`);
    }
    const second = await health(network.ip);
    console.log(`  health from the host: ${JSON.stringify(second)}`);
    check(second.marker === first.marker, `the marker did not survive the disk migration: '${first.marker}' became '${second.marker}'`);
    check(
      second.store_size_mib > first.store_size_mib,
      `the persistent disk did not grow: ${first.store_size_mib} MiB then ${second.store_size_mib} MiB`,
    );

    // 3. a changed job property: recreate
    const recreate = await stage('recreate', 'create-env', 2048, 'changed');
    check(methods(recreate).includes('delete_vm') && methods(recreate).includes('create_vm'), 'the changed property did not recreate the VM');
    const third = await health(network.ip);
    const thirdVm = (await readCliState(statePath))?.current_vm_cid;
    console.log(`  health from the host: ${JSON.stringify(third)} (VM ${String(thirdVm)})`);
    check(thirdVm !== undefined && thirdVm !== firstVm, `the VM was not recreated (cid ${String(firstVm)} before, ${String(thirdVm)} after)`);
    check(third.greeting === 'changed', `the job answers greeting '${third.greeting}', not the new 'changed'`);
    check(third.marker === first.marker, `the marker did not survive the recreate: '${first.marker}' became '${third.marker}'`);

    // 4. delete-env and the leak check
    await stage('delete-env', 'delete-env', 2048, 'changed');
    console.log('\n== leak check after delete-env ==');
    const dirs = {
      stemcellsDir: join(cpiStore, 'stemcells'),
      disksDir: join(cpiStore, 'disks'),
      ephemeralDir: join(cpiStore, 'ephemeral_bind_mounts_dir'),
      persistentDir: join(cpiStore, 'persistent_bind_mounts_dir'),
      stateDir: join(cpiStore, 'cpi_state'),
    };
    const leaks = await findLeaks(dirs, () => gardenContainers(gardenAddress));
    const leftIn = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [])).map((entry) => join(dir, entry));
    const cliState = await readCliState(statePath);
    const installations = await leftIn(join(home, '.bosh', 'installations'));
    const rules = newRules(rulesBefore, iptablesRules(), { chainPrefix: `w-${tag}-`, subnet: network.cidr });
    const report: Record<string, string[]> = {
      'Garden containers': leaks.containers,
      mounts: leaks.mounts,
      'loop devices': leaks.loopDevices,
      'iptables rules': rules.leaked,
      stemcells: await leftIn(dirs.stemcellsDir),
      disks: await leftIn(dirs.disksDir),
      'bind mount dirs': [...(await leftIn(dirs.ephemeralDir)), ...(await leftIn(dirs.persistentDir))],
      // Empty directories (vms/, locks/, …) may stay; no record, lock or temp file may.
      'CPI state files': await filesUnder(dirs.stateDir),
      'CLI state (state.json)':
        cliState && (cliState.current_vm_cid || (cliState.disks ?? []).length > 0 || (cliState.stemcells ?? []).length > 0)
          ? [JSON.stringify(cliState)]
          : [],
      'CLI installations': installations,
    };
    let leaked = 0;
    for (const [what, found] of Object.entries(report)) {
      console.log(`  ${what.padEnd(24)} ${found.length === 0 ? 'none' : found.join(', ')}`);
      leaked += found.length;
    }
    // Not a leak of the CPI's: gdn's own NAT rule for the subnet, until gdn stops (docs/create-env.md).
    for (const rule of rules.keptByGarden) console.log(`  (kept by gdn until it stops: ${rule})`);
    check(leaked === 0, `delete-env left ${leaked} thing(s) behind (above)`);
  } catch (error) {
    failure = error;
    // A shared host: take the environment down unless asked to keep it for debugging.
    const deleted = stages.some((result) => result.name === 'delete-env');
    if (!deleted && existsSync(statePath) && process.env.CREATE_ENV_KEEP !== '1') {
      console.log('\n== cleaning up after the failure: bosh delete-env (CREATE_ENV_KEEP=1 keeps the environment) ==');
      const status = await runShown(
        bosh,
        ['delete-env', '--tty', manifestPath, '--state', statePath, '--vars-store', varsStore, ...variables(2048, 'changed')],
        {
          env: cliEnv(join(logs, 'cleanup.debug.log')),
          logFile: join(logs, 'cleanup.out.log'),
        },
      );
      console.log(`  cleanup delete-env: exit ${status}`);
      // delete-env stops at an agent that cannot stop its jobs: then the CPI itself deletes what the state lists.
      if (status !== 0) await deleteThroughCpi({ home, statePath, cpiStore, gardenAddress, logFile: join(logs, 'cleanup.cpi.log') });
    }
  } finally {
    if (!gardenWasRunning) {
      console.log('\nstopping gdn (scripts/real-garden.sh stop)');
      if (realGarden('stop').status !== 0) failure ??= new DemoFailure('scripts/real-garden.sh stop left something behind');
    }
  }

  console.log('\n== summary ==');
  for (const result of stages) {
    const calls = result.calls.length;
    const cpiMs = result.calls.reduce((sum, call) => sum + (call.ms ?? 0), 0);
    console.log(
      `  ${result.name.padEnd(16)} ${result.seconds.toFixed(1).padStart(7)} s   ${String(calls).padStart(3)} CPI calls, ${(cpiMs / 1000).toFixed(1)} s in the CPI`,
    );
  }
  console.log(`  total (with preparation) ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await writeFile(
    join(logs, 'stages.json'),
    `${JSON.stringify(
      stages.map(({ name, seconds, calls }) => ({ name, seconds, calls: totalsByMethod(calls) })),
      null,
      2,
    )}\n`,
  );
  if (failure !== undefined) {
    console.log(`\nFAILED; everything is kept in ${work} (CLI debug logs in ${logs})`);
    throw failure;
  }
  if (process.env.CREATE_ENV_WORK_DIR === undefined) await rm(work, { recursive: true, force: true });
  console.log('\nOK: create-env, disk migration, recreate and delete-env through garden-cpi; nothing left behind');
}

main().catch((error: unknown) => {
  console.error(error instanceof DemoFailure ? `demo:create-env: ${error.message}` : error);
  process.exitCode = 1;
});
