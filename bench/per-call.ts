import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { busyboxStemcell } from '../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../testkit/cpi-environment';
import type { GardenUnderTest } from '../testkit/garden-under-test';
import { median } from './bench-utils';

/**
 * Per-call cost of the built CPI: each CPI method as the Director runs it (one process, request on stdin),
 * against bare `node -e 0` in the same run, interleaved so every column sees the same noise. With
 * BENCH_BASELINE=<path to another dist/cpi.js> (e.g. the previous build copied to a temp dir), that bundle
 * runs every call too, side by side: before/after from one run.
 */
export interface Bundle {
  label: string;
  path: string;
}

export interface PerCallRow {
  call: string;
  /** Median ms per bundle label (and 'bare node' for the floor row). */
  medians: Record<string, number>;
  /** Garden connections per call, per bundle label (the emulator counts them). */
  connections?: Record<string, number>;
}

export interface PerCallBench {
  runs: number;
  bareMs: number;
  bundles: Bundle[];
  rows: PerCallRow[];
  /** delete_vm of this build, ms per step (medians), alone and 10 at once: see profileDeleteVm. */
  deleteVmSteps: { alone: Record<string, number>; parallel: Record<string, number> };
}

/**
 * One delete_vm's time split into steps, from its debug log (src/vms/vm-teardown.ts) and response: `node`
 * start-up and exit (wall time minus the time inside the CPI), finding attached disks, then the teardown's
 * steps (lock, record, destroy, portRules, dirs, state, unlock), and the rest (config, loading
 * the services, the response) as `other`.
 */
function deleteVmSteps(run: BundleRun): Record<string, number> {
  const inside = Number(/\((\d+) ms\)$/.exec(run.log)?.[1] ?? Number.NaN);
  const meta = (message: string): Record<string, unknown> => {
    const line = run.stderr.split('\n').find((text) => text.includes(message)) ?? '';
    return JSON.parse(line.slice(line.indexOf('{')) || '{}') as Record<string, unknown>;
  };
  const steps: Record<string, number> = { 'node start+exit': run.ms - inside, disksOf: Number(meta('Listed attached disks').ms ?? Number.NaN) };
  for (const [key, value] of Object.entries(meta('Deleted VM: ms per step'))) if (typeof value === 'number') steps[key] = value;
  const named = Object.entries(steps)
    .filter(([key]) => key !== 'node start+exit')
    .reduce((sum, [, value]) => sum + value, 0);
  steps.other = inside - named;
  steps.total = run.ms;
  return steps;
}

function medianSteps(samples: readonly Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(samples.flatMap((sample) => Object.keys(sample)))];
  return Object.fromEntries(keys.map((key) => [key, median(samples.map((sample) => sample[key] ?? 0))]));
}

/** Dynamic: many VMs at once, Garden picks each address. */
const NETWORK = { default: { type: 'dynamic', dns: ['8.8.8.8'], default: ['dns', 'gateway'], cloud_properties: {} } };

interface BundleRun {
  ms: number;
  result: unknown;
  error: unknown;
  /** The response's `log` ("delete_vm: done (12 ms)"): the time inside the CPI, from stdin read to response. */
  log: string;
  stderr: string;
}

/** Runs `bundle` once as the Director does; resolves its wall time (ms) and response. */
function runBundle(bundle: string, configPath: string, method: string, args: unknown[], env: Record<string, string> = {}): Promise<BundleRun> {
  const request = JSON.stringify({ method, arguments: args, context: { director_uuid: 'bench', request_id: 'bench-1' }, api_version: 2 });
  return new Promise((done, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [bundle, configPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      try {
        const response = JSON.parse(stdout) as { result: unknown; error: unknown; log: string };
        done({ ms, result: response.result, error: response.error, log: response.log, stderr });
      } catch {
        reject(new Error(`${method}: stdout is not JSON: ${stdout.slice(0, 300)}`));
      }
    });
    child.stdin.end(request);
  });
}

function bareNode(): Promise<number> {
  return new Promise((done, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: ['pipe', 'ignore', 'ignore'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    child.once('error', reject);
    child.once('close', () => done(Number(process.hrtime.bigint() - started) / 1e6));
    child.stdin.end('{}');
  });
}

/** The bundles to compare: this build, plus BENCH_BASELINE when set. */
export function benchBundles(): Bundle[] {
  const bundles: Bundle[] = [{ label: 'this build', path: resolve(__dirname, '../dist/cpi.js') }];
  const baseline = process.env.BENCH_BASELINE ?? '';
  if (baseline !== '') {
    if (!existsSync(baseline)) throw new Error(`BENCH_BASELINE='${baseline}' does not exist`);
    bundles.unshift({ label: 'baseline', path: baseline });
  }
  return bundles;
}

/**
 * Every call listed in issue #14 against `garden` (default: the emulator), `runs` interleaved rounds.
 * Setup calls (create_vm before a timed delete_vm, ...) go through the same bundle but are not timed.
 */
export async function benchPerCall(options: { runs?: number; garden?: GardenUnderTest; bundles?: Bundle[] } = {}): Promise<PerCallBench> {
  const runs = options.runs ?? 11;
  const bundles = options.bundles ?? benchBundles();
  const env: CpiEnvironment = await startCpiEnvironment({ garden: options.garden });
  const emulator = env.target === 'emulator' ? env.garden : undefined;
  const samples = new Map<string, Map<string, number[]>>();
  const connectionSamples = new Map<string, Map<string, number[]>>();
  const bare: number[] = [];
  let deleteVmSteps_: PerCallBench['deleteVmSteps'] = { alone: {}, parallel: {} };
  const add = (table: Map<string, Map<string, number[]>>, call: string, label: string, value: number) => {
    const row = table.get(call) ?? new Map<string, number[]>();
    table.set(call, row);
    row.set(label, [...(row.get(label) ?? []), value]);
  };
  const ok = async (bundle: Bundle, method: string, args: unknown[]): Promise<{ ms: number; result: unknown }> => {
    const run = await runBundle(bundle.path, env.configPath, method, args);
    if (run.error !== null) throw new Error(`${bundle.label} ${method} failed: ${JSON.stringify(run.error)}`);
    return run;
  };
  const timed = async (bundle: Bundle, call: string, method: string, args: unknown[]): Promise<unknown> => {
    const before = emulator?.connectionCount() ?? 0;
    const run = await ok(bundle, method, args);
    add(samples, call, bundle.label, run.ms);
    if (emulator) add(connectionSamples, call, bundle.label, emulator.connectionCount() - before);
    return run.result;
  };
  /** `count` calls at once; the wall time of the whole batch. */
  const parallel = async (bundle: Bundle, call: string, method: string, argsOf: (i: number) => unknown[], count: number): Promise<unknown[]> => {
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: count }, (_, i) => ok(bundle, method, argsOf(i))));
    add(samples, call, bundle.label, Number(process.hrtime.bigint() - started) / 1e6);
    return results.map((run) => run.result);
  };
  try {
    const image = (await busyboxStemcell()).imagePath;
    const first = bundles[0] as Bundle;
    const stemcell = (await ok(first, 'create_stemcell', [image, null])).result as string;
    const vm = ((await ok(first, 'create_vm', ['agent-bench', stemcell, {}, NETWORK, [], {}])).result as [string])[0];
    const disk = (await ok(first, 'create_disk', [1, {}, vm])).result as string;
    for (let run = 0; run < runs; run += 1) {
      bare.push(await bareNode());
      // Alternate the order of the bundles so neither always runs first.
      for (const bundle of run % 2 === 0 ? bundles : [...bundles].reverse()) {
        await timed(bundle, 'info', 'info', []);
        await timed(bundle, 'calculate_vm_cloud_properties', 'calculate_vm_cloud_properties', [{ cpu: 1, ram: 512, ephemeral_disk_size: 1024 }]);
        await timed(bundle, 'has_disk', 'has_disk', [disk]);
        await timed(bundle, 'get_disks', 'get_disks', [vm]);
        await timed(bundle, 'set_disk_metadata', 'set_disk_metadata', [disk, { director: 'bench', deployment: 'd', instance_id: 'i' }]);
        const doomed = (await ok(bundle, 'create_disk', [1, {}, vm])).result as string;
        await timed(bundle, 'delete_disk', 'delete_disk', [doomed]);
        const twin = (await ok(bundle, 'create_stemcell', [image, null])).result as string;
        await timed(bundle, 'delete_stemcell (deduplicated cid)', 'delete_stemcell', [twin]);
        await timed(bundle, 'has_vm', 'has_vm', [vm]);
        await timed(bundle, 'set_vm_metadata (3 keys)', 'set_vm_metadata', [vm, { director: 'bench', deployment: 'd', name: 'n/0' }]);
        const other = ((await ok(bundle, 'create_vm', [`agent-${run}`, stemcell, {}, NETWORK, [], {}])).result as [string])[0];
        await timed(bundle, 'attach_disk', 'attach_disk', [other, disk]);
        await timed(bundle, 'detach_disk', 'detach_disk', [other, disk]);
        await timed(bundle, 'delete_vm (disk history)', 'delete_vm', [other]);
        const bareVm = ((await ok(bundle, 'create_vm', [`agent-b${run}`, stemcell, {}, NETWORK, [], {}])).result as [string])[0];
        await timed(bundle, 'delete_vm (bare)', 'delete_vm', [bareVm]);
      }
    }
    // The 10-way parallel rows are slow: fewer rounds.
    const parallelRuns = Math.max(2, Math.ceil(runs / 3));
    for (let run = 0; run < parallelRuns; run += 1) {
      for (const bundle of run % 2 === 0 ? bundles : [...bundles].reverse()) {
        const disks = (await parallel(bundle, 'create_disk x10 parallel', 'create_disk', () => [1, {}, vm], 10)) as string[];
        await parallel(bundle, 'delete_disk x10 parallel', 'delete_disk', (i) => [disks[i]], 10);
        const vms = await Promise.all(
          Array.from({ length: 10 }, (_, i) => ok(bundle, 'create_vm', [`agent-p${run}-${i}`, stemcell, {}, NETWORK, [], {}])),
        );
        await parallel(bundle, 'delete_vm x10 parallel', 'delete_vm', (i) => [(vms[i]?.result as [string])[0]], 10);
      }
    }
    // delete_vm of this build, step by step (debug log), alone and 10 at once.
    const current = bundles[bundles.length - 1] as Bundle;
    const debug = { BOSH_LOG_LEVEL: 'debug' };
    const alone: Record<string, number>[] = [];
    const together: Record<string, number>[] = [];
    for (let run = 0; run < parallelRuns; run += 1) {
      for (let i = 0; i < 3; i += 1) {
        const one = ((await ok(current, 'create_vm', [`agent-s${run}-${i}`, stemcell, {}, NETWORK, [], {}])).result as [string])[0];
        alone.push(deleteVmSteps(await runBundle(current.path, env.configPath, 'delete_vm', [one], debug)));
      }
      const vms = await Promise.all(
        Array.from({ length: 10 }, (_, i) => ok(current, 'create_vm', [`agent-t${run}-${i}`, stemcell, {}, NETWORK, [], {}])),
      );
      const runs = await Promise.all(
        vms.map((created) => runBundle(current.path, env.configPath, 'delete_vm', [(created.result as [string])[0]], debug)),
      );
      together.push(...runs.map(deleteVmSteps));
    }
    deleteVmSteps_ = { alone: medianSteps(alone), parallel: medianSteps(together) };
    await ok(first, 'delete_disk', [disk]);
    await ok(first, 'delete_vm', [vm]);
    await ok(first, 'delete_stemcell', [stemcell]);
  } finally {
    await env.close();
  }
  const bareMs = median(bare);
  const rows: PerCallRow[] = [...samples.entries()].map(([call, byBundle]) => {
    const connections = connectionSamples.get(call);
    return {
      call,
      medians: Object.fromEntries([...byBundle.entries()].map(([label, values]) => [label, median(values)])),
      connections: connections && Object.fromEntries([...connections.entries()].map(([label, values]) => [label, median(values)])),
    };
  });
  return { runs, bareMs, bundles, rows, deleteVmSteps: deleteVmSteps_ };
}

export function printPerCall(result: PerCallBench, where: string): void {
  const labels = result.bundles.map((bundle) => bundle.label);
  console.log(
    `## per call, through the bundle, against ${where} (${result.runs} interleaved runs; x10 rows: ${Math.max(2, Math.ceil(result.runs / 3))}), medians`,
  );
  console.log(`bare node -e 0: median ${result.bareMs.toFixed(1)} ms`);
  const header = ['call', ...labels.flatMap((label) => [`${label} ms`, 'x bare', 'conns'])];
  if (labels.length === 2) header.push('this/baseline');
  const line = (cells: (string | number)[]) =>
    cells.map((cell, i) => (typeof cell === 'number' ? cell.toFixed(1) : cell).padEnd(i === 0 ? 36 : 13)).join('');
  console.log(line(header));
  for (const row of result.rows) {
    const cells: (string | number)[] = [row.call];
    for (const label of labels) {
      const ms = row.medians[label] ?? Number.NaN;
      cells.push(ms, `${(ms / result.bareMs).toFixed(2)}x`, row.connections?.[label] === undefined ? '-' : String(row.connections[label]));
    }
    if (labels.length === 2) cells.push(`${((row.medians[labels[1] ?? ''] ?? 0) / (row.medians[labels[0] ?? ''] ?? 1)).toFixed(2)}x`);
    console.log(line(cells));
  }
  const steps = result.deleteVmSteps;
  console.log(`delete_vm of this build, ms per step (medians; 'node start+exit' is wall time minus the time inside the CPI):`);
  for (const [label, values] of [
    ['alone', steps.alone],
    ['10 at once', steps.parallel],
  ] as const) {
    console.log(
      `  ${label.padEnd(11)} ${Object.entries(values)
        .map(([key, value]) => `${key} ${value.toFixed(1)}`)
        .join(', ')}`,
    );
  }
}

if (require.main === module) {
  void benchPerCall({ runs: Number(process.env.BENCH_RUNS ?? 11) }).then(
    (result) => printPerCall(result, 'the Garden emulator'),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
