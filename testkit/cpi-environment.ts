import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GardenEmulator, startGardenEmulator } from '../src/garden-emulator/garden-emulator';
import { type GardenClient, createGardenClient } from '../src/garden/garden-client';
import { silentLogger } from '../src/log/logger';
import { type CpiRun, runCpi } from './cpi-process';
import type { GardenUnderTest } from './garden-under-test';
import { type CpiDirs, type LeakReport, findLeaks, loopDevicesBackedBy, mountsUnder } from './leak-checker';

const exec = promisify(execFile);

/**
 * Test teardown even after a failed test: lazily unmounts everything under `dir` (deepest first), detaches
 * loop devices backed by files under it, then removes it. Never used to hide leaks: suites assert
 * `leaks()` before this runs.
 */
export async function forceCleanup(dir: string): Promise<void> {
  for (const target of (await mountsUnder([dir])).sort((a, b) => b.length - a.length)) {
    await exec('umount', ['-l', target]).catch(() => undefined);
  }
  for (const entry of await loopDevicesBackedBy(dir)) {
    await exec('losetup', ['-d', entry.split(' ')[0] ?? '']).catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * A Garden emulator plus a CPI config whose dirs all live in one temp dir: what the lifecycle, concurrency
 * and fault suites (and the demo) drive the built bin/cpi against.
 */
export interface CpiEnvironment {
  dir: string;
  dirs: CpiDirs;
  configPath: string;
  /** Which Garden this environment drives. */
  target: GardenUnderTest['kind'];
  /** The embedded emulator (fault injection, request records); throws on a real Garden. */
  garden: GardenEmulator;
  client: GardenClient;
  /** Handles of the containers the Garden holds now (either kind of Garden). */
  containerHandles(): Promise<string[]>;
  /** One CPI call, spawned as the Director does; `apiVersion` undefined sends no api_version (bosh-cli info). */
  call(
    method: string,
    args: unknown[],
    options?: { apiVersion?: number | null; requestId?: string | null; env?: Record<string, string> },
  ): Promise<CpiRun>;
  /** Like call, but throws when the response carries an error; returns the result. */
  ok<T = unknown>(method: string, args: unknown[], options?: { apiVersion?: number | null; requestId?: string | null }): Promise<T>;
  /**
   * Runs `script` with /bin/sh as root inside a running VM (a Garden process); resolves with its stdout,
   * rejects naming the script, the VM and its stderr when it exits non-zero.
   */
  shell(vm: string, script: string): Promise<string>;
  leaks(): Promise<LeakReport>;
  close(): Promise<void>;
}

/** cpi.json's `actions` for these dirs. */
export function configActions(dirs: CpiDirs): Record<string, string> {
  return {
    stemcells_dir: dirs.stemcellsDir,
    disks_dir: dirs.disksDir,
    host_ephemeral_bind_mounts_dir: dirs.ephemeralDir,
    host_persistent_bind_mounts_dir: dirs.persistentDir,
    state_dir: dirs.stateDir,
  };
}

/** The CPI's dirs, all under `dir`, and a cpi.json pointing at them and at `garden` (`overrides` replace top-level keys). */
export async function writeCpiConfig(
  dir: string,
  garden: { network: 'tcp' | 'unix'; address: string },
  overrides: Record<string, unknown> = {},
): Promise<{ dirs: CpiDirs; configPath: string }> {
  const dirs: CpiDirs = {
    stemcellsDir: join(dir, 'stemcells'),
    disksDir: join(dir, 'disks'),
    ephemeralDir: join(dir, 'ephemeral_bind_mounts_dir'),
    persistentDir: join(dir, 'persistent_bind_mounts_dir'),
    stateDir: join(dir, 'cpi_state'),
  };
  const configPath = join(dir, 'cpi.json');
  const config = {
    warden: { connect_network: garden.network, connect_address: garden.address },
    actions: configActions(dirs),
    agent: { mbus: 'nats://nats:nats-secret-password@10.254.50.4:4222' },
    ...overrides,
  };
  await writeFile(configPath, JSON.stringify(config));
  return { dirs, configPath };
}

/**
 * A CPI environment against `options.garden` (default: the embedded emulator, in `processMode`). On a real
 * Garden, `processMode` does not apply (real containers run real processes) and `garden` is unavailable.
 */
export async function startCpiEnvironment(
  options: { processMode?: 'scripted' | 'exec'; config?: Record<string, unknown>; garden?: GardenUnderTest } = {},
): Promise<CpiEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'cpi-env-'));
  const target = options.garden ?? { kind: 'emulator' };
  const emulator =
    target.kind === 'emulator'
      ? await startGardenEmulator({
          listen: { host: '127.0.0.1', port: 0 },
          stateDir: join(dir, 'garden'),
          processMode: options.processMode ?? 'scripted',
        })
      : undefined;
  const address = emulator?.address ?? {
    network: target.kind === 'real' ? target.network : 'tcp',
    address: target.kind === 'real' ? target.address : '',
  };
  const { dirs, configPath } = await writeCpiConfig(dir, address, {
    agent: { mbus: 'nats://nats:nats-secret-password@10.254.50.4:4222', ntp: ['time1.example.com'] },
    ...options.config,
  });
  const client = createGardenClient({ network: address.network, address: address.address, logger: silentLogger });
  // On a real Garden, only the CPI's containers (its owner property): others may share that Garden.
  const containerHandles = async (): Promise<string[]> =>
    emulator ? emulator.containerHandles() : client.list({ 'garden-cpi.owner': 'garden-cpi' });
  let counter = 100000;
  const call: CpiEnvironment['call'] = (method, args, callOptions = {}) => {
    counter += 1;
    const apiVersion = callOptions.apiVersion === undefined ? 2 : callOptions.apiVersion;
    const requestId = callOptions.requestId === undefined ? `cpi-${counter}` : callOptions.requestId;
    const context: Record<string, unknown> = { director_uuid: 'lifecycle-director' };
    if (requestId !== null) context.request_id = requestId;
    const body: Record<string, unknown> = { method, arguments: args, context };
    if (apiVersion !== null) body.api_version = apiVersion;
    return runCpi(configPath, JSON.stringify(body), { env: callOptions.env });
  };
  return {
    dir,
    dirs,
    configPath,
    target: target.kind,
    get garden(): GardenEmulator {
      if (emulator === undefined) throw new Error('this environment drives a real Garden: emulator features are not available');
      return emulator;
    },
    client,
    containerHandles,
    call,
    async ok<T>(method: string, args: unknown[], callOptions = {}) {
      const run = await call(method, args, callOptions);
      if (run.status !== 0 || run.response.error !== null) {
        throw new Error(`${method} failed: ${JSON.stringify(run.response.error)} (exit ${String(run.status)}); stderr: ${run.stderr.slice(-2000)}`);
      }
      return run.response.result as T;
    },
    async shell(vm, script) {
      const result = await client.exec(vm, { path: '/bin/sh', args: ['-c', script], user: 'root' });
      if (result.exitStatus !== 0) throw new Error(`'${script}' in ${vm} exited ${String(result.exitStatus)}: ${result.stderr}`);
      return result.stdout;
    },
    leaks: () => findLeaks(dirs, containerHandles),
    async close() {
      await emulator?.close();
      // A failed test may leave VMs in a real Garden shared with later suites: destroy what this
      // environment's CPI made (suites assert leaks() before close, so nothing is hidden).
      if (emulator === undefined) {
        for (const handle of await client.list({ 'garden-cpi.owner': 'garden-cpi' }).catch(() => [] as string[])) {
          await client.destroy(handle).catch(() => undefined);
        }
      }
      await forceCleanup(dir);
    },
  };
}
