import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GardenEmulator, startGardenEmulator } from '../src/garden-emulator/garden-emulator';
import { type GardenClient, createGardenClient } from '../src/garden/garden-client';
import { silentLogger } from '../src/log/logger';
import { busyboxStemcell } from '../testkit/busybox-stemcell';
import { forceCleanup, writeCpiConfig } from '../testkit/cpi-environment';
import { runCpi } from '../testkit/cpi-process';
import { findLeaks } from '../testkit/leak-checker';
import { manualNetworks } from '../testkit/networks';

/**
 * `npm run demo`: a readable CPI lifecycle, one bin/cpi process per call exactly as the Director runs it,
 * against the embedded Garden emulator (exec mode: real chrooted containers, loop devices and mounts), or
 * against a real Garden: GARDEN=real builds (cached) and starts the test gdn of scripts/real-garden.sh and
 * stops it afterwards; GARDEN_ADDRESS (`host:port`, or a unix socket path) uses a Garden already running.
 * `npm run demo -- -v` also shows the CPI's own log lines (its stderr) under each call.
 */

const VERBOSE = process.argv.slice(2).some((arg) => arg === '-v' || arg === '--verbose');

const NETWORKS = manualNetworks('10.244.0.10');

/** One line of the call table: method, then (once the call returned) its time and its whole result. */
const COLUMNS = { method: 18, time: 11 };

/** scripts/real-garden.sh COMMAND; its stdout, or an error naming the command and its exit status. */
function realGarden(command: 'start' | 'stop' | 'env'): string {
  const result = spawnSync('bash', [join(__dirname, 'real-garden.sh'), command], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`scripts/real-garden.sh ${command} failed (exit ${String(result.status)})`);
  return result.stdout;
}

function gardenAddress(): { network: 'tcp' | 'unix'; address: string } | undefined {
  if (process.env.GARDEN === 'real') {
    console.log('Starting the test gdn (scripts/real-garden.sh start; the first build takes a few minutes)...');
    realGarden('start');
    const line = realGarden('env')
      .split('\n')
      .find((text) => text.startsWith('GARDEN_ADDRESS='));
    if (line === undefined) throw new Error('scripts/real-garden.sh env printed no GARDEN_ADDRESS');
    return { network: 'tcp', address: line.slice('GARDEN_ADDRESS='.length) };
  }
  const address = process.env.GARDEN_ADDRESS;
  if (address === undefined || address === '') return undefined;
  return { network: address.startsWith('/') ? 'unix' : 'tcp', address };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the demo needs root: the CPI makes bind mounts, loop devices and ext4 images (run it with sudo)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'garden-cpi-demo-'));
  console.log(`garden-cpi demo: a full BOSH CPI lifecycle${VERBOSE ? " (with the CPI's log lines)" : " (-v shows the CPI's log lines)"}`);
  console.log(`Work dir: ${dir} (removed at the end)`);
  let emulator: GardenEmulator | undefined;
  try {
    const real = gardenAddress();
    emulator =
      real === undefined
        ? await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(dir, 'garden'), processMode: 'exec' })
        : undefined;
    const garden = real ?? emulator?.address;
    if (garden === undefined) throw new Error('no Garden');
    const source = process.env.GARDEN === 'real' ? 'real gdn, scripts/real-garden.sh' : 'GARDEN_ADDRESS';
    console.log(real ? `Garden:   ${garden.address} (${source})` : `Garden:   embedded emulator (exec mode) on ${garden.address}`);
    const client: GardenClient = createGardenClient({ ...garden, logger: silentLogger });

    const { dirs, configPath } = await writeCpiConfig(dir, garden, { agent: { mbus: 'nats://nats:demo-password@10.244.0.2:4222' } });
    console.log(`CPI:      node dist/cpi.js ${configPath} (one process per call, request on stdin, as the Director runs it)`);

    let requestNumber = 100000;
    const call = async <T>(method: string, args: unknown[]): Promise<T> => {
      requestNumber += 1;
      const started = Date.now();
      process.stdout.write(method.padEnd(COLUMNS.method));
      const run = await runCpi(
        configPath,
        JSON.stringify({ method, arguments: args, context: { director_uuid: 'demo', request_id: `cpi-${requestNumber}` }, api_version: 2 }),
      );
      const ms = Date.now() - started;
      const error = run.response.error;
      const outcome = error ? `${error.type}: ${error.message}` : (JSON.stringify(run.response.result) ?? 'null');
      console.log(`${`${ms} ms`.padStart(COLUMNS.time - 2).padEnd(COLUMNS.time)}${outcome}`);
      if (VERBOSE) for (const line of run.stderr.split('\n').filter((text) => text !== '')) console.log(`    | ${line}`);
      if (error) throw new Error(`${method} failed`);
      return run.response.result as T;
    };
    const inVm = async (vm: string, script: string): Promise<string> => {
      const result = await client.exec(vm, { path: '/bin/sh', args: ['-c', script], user: 'root' });
      if (result.exitStatus !== 0) throw new Error(`'${script}' failed in ${vm}: ${result.stderr}`);
      console.log(`${'(in the VM)'.padEnd(COLUMNS.method + COLUMNS.time)}$ ${script}${result.stdout.trim() ? `  -> ${result.stdout.trim()}` : ''}`);
      return result.stdout;
    };

    process.stdout.write('Stemcell: busybox fixture (testkit/busybox-stemcell.ts) ... ');
    const stemcell = await busyboxStemcell(() => process.stdout.write('building it once (about 10 s; cached in .cache/fixtures) ... '));
    console.log(stemcell.imagePath);
    console.log(
      `\n${'method'.padEnd(COLUMNS.method)}${'time'.padStart(COLUMNS.time - 2).padEnd(COLUMNS.time)}result (whole, as the Director gets it)`,
    );
    await call('info', []);
    const stemcellCid = await call<string>('create_stemcell', [stemcell.imagePath, {}]);
    const [vm1] = await call<[string]>('create_vm', ['agent-1', stemcellCid, { ports: [] }, NETWORKS, [], { bosh: { password: 'secret' } }]);
    await call('has_vm', [vm1]);
    await call('set_vm_metadata', [vm1, { director: 'demo', deployment: 'demo', name: 'web/0', index: 0 }]);
    const disk = await call<string>('create_disk', [64, {}, vm1]);
    await call('has_disk', [disk]);
    const hint = await call<string>('attach_disk', [vm1, disk]);
    await call('get_disks', [vm1]);
    await inVm(vm1, `echo "written by ${vm1.slice(0, 8)}" > ${hint}/hello && cat ${hint}/hello`);
    await call('detach_disk', [vm1, disk]);
    await call('delete_vm', [vm1]);
    await call('has_vm', [vm1]);
    const [vm2] = await call<[string]>('create_vm', ['agent-2', stemcellCid, {}, NETWORKS, [disk], {}]);
    await call('attach_disk', [vm2, disk]);
    await inVm(vm2, `cat ${hint}/hello`);
    await call('detach_disk', [vm2, disk]);
    await call('resize_disk', [disk, 128]);
    const snapshot = await call<string>('snapshot_disk', [disk, { deployment: 'demo', index: 0 }]);
    await call('delete_snapshot', [snapshot]);
    await call('delete_vm', [vm2]);
    await call('delete_disk', [disk]);
    await call('delete_stemcell', [stemcellCid]);

    const leaks = await findLeaks(dirs, async () =>
      emulator ? emulator.containerHandles() : client.list({ 'garden-cpi.owner': 'garden-cpi' }).catch(() => []),
    );
    const leaked = Object.entries(leaks).filter(([, items]) => items.length > 0);
    console.log(
      `\n${leaked.length === 0 ? 'Leak check: no mounts, loop devices, containers, locks or temp files left' : `Leak check: LEAKED ${JSON.stringify(leaks)}`}`,
    );
    if (leaked.length > 0) process.exitCode = 1;
  } finally {
    await emulator?.close();
    await forceCleanup(dir);
    if (process.env.GARDEN === 'real') {
      realGarden('stop');
      console.log('gdn stopped: no process, container, iptables chain, interface or mount of it left');
    }
  }
}

void main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
