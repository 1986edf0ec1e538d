import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { parseMountInfo } from '../../src/host/mounts';
import { BUNDLE, request, tempConfig, type CpiRun } from '../../testkit/cpi-process';

/**
 * A CPI installation for VM lifecycle tests: the Garden emulator on a unix socket, upstream-style
 * stemcell dirs (a runit and a systemd rootfs stub), and a private network namespace the CPI runs in,
 * so its iptables rules never touch the host's.
 */
export interface VmFixture {
  dir: string;
  configPath: string;
  config: Record<string, unknown> & { actions: Record<string, string> };
  emulator: GardenEmulator;
  netns: string;
  gardenInitPath: string;
  call(method: string, args: unknown[], extra?: Record<string, unknown>): Promise<CpiRun>;
  /** The CPI process of one call, to kill it mid-way. */
  spawnCall(method: string, args: unknown[]): { child: ReturnType<typeof spawn>; done: Promise<void> };
  natRules(): string[];
  /** Host mounts under the fixture dir. */
  mountsUnderDir(): string[];
  close(): Promise<void>;
}

export const RUNIT_STEMCELL = 'sc-runit';
export const SYSTEMD_STEMCELL = 'sc-systemd';

function runIn(netns: string, configPath: string, stdin: string): { child: ReturnType<typeof spawn>; result: Promise<CpiRun> } {
  // nsenter joins only the network namespace: mounts stay in the host's mount namespace, as in production.
  const child = spawn('/usr/bin/nsenter', [`--net=/run/netns/${netns}`, process.execPath, BUNDLE, configPath], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => undefined);
  const result = new Promise<CpiRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      try {
        resolve({ status, signal, stdout, stderr, response: JSON.parse(stdout) as CpiRun['response'] });
      } catch {
        reject(new Error(`stdout is not one JSON document: ${JSON.stringify(stdout.slice(0, 300))}; stderr: ${stderr.slice(0, 3000)}`));
      }
    });
  });
  child.stdin.end(stdin);
  return { child, result };
}

export async function startVmFixture(
  options: { configOverrides?: Record<string, unknown>; processMode?: 'scripted' | 'exec' } = {},
): Promise<VmFixture> {
  const netns = `cpi-vm-${randomBytes(4).toString('hex')}`;
  const { dir, configPath, config } = await tempConfig();
  const socketPath = join(dir, 'garden.sock');
  const gardenInitPath = join(dir, 'garden-init');
  await writeFile(gardenInitPath, '#!/bin/sh\n', { mode: 0o755 });
  const stemcells = (config.actions as Record<string, string>).stemcells_dir as string;
  await mkdir(join(stemcells, RUNIT_STEMCELL, 'usr/sbin'), { recursive: true });
  await writeFile(join(stemcells, RUNIT_STEMCELL, 'usr/sbin/runsvdir-start'), '#!/bin/sh\n', { mode: 0o755 });
  await mkdir(join(stemcells, SYSTEMD_STEMCELL, 'sbin'), { recursive: true });
  await symlink('/lib/systemd/systemd', join(stemcells, SYSTEMD_STEMCELL, 'sbin/init'));
  const fullConfig = {
    ...config,
    warden: { connect_network: 'unix', connect_address: socketPath, garden_init_path: gardenInitPath },
    ...options.configOverrides,
  } as unknown as VmFixture['config'];
  await writeFile(configPath, JSON.stringify(fullConfig));
  const emulator = await startGardenEmulator({
    listen: { socketPath },
    stateDir: join(dir, 'garden-state'),
    processMode: options.processMode ?? 'scripted',
  });
  execFileSync('ip', ['netns', 'add', netns]);

  const fixture: VmFixture = {
    dir,
    configPath,
    config: fullConfig,
    emulator,
    netns,
    gardenInitPath,
    call: (method, args, extra = {}) => runIn(netns, configPath, request(method, args, { api_version: 2, ...extra })).result,
    spawnCall(method, args) {
      const { child, result } = runIn(netns, configPath, request(method, args, { api_version: 2 }));
      return {
        child,
        done: result.then(
          () => undefined,
          () => undefined,
        ),
      };
    },
    natRules: () =>
      execFileSync('ip', ['netns', 'exec', netns, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.startsWith('-A ')),
    mountsUnderDir: () =>
      parseMountInfo(execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }))
        .map((entry) => entry.target)
        .filter((target) => target.startsWith(`${dir}/`)),
    async close() {
      await emulator.close().catch(() => undefined);
      // Last-resort cleanup independent of the code under test.
      for (const target of fixture.mountsUnderDir().reverse()) {
        try {
          execFileSync('umount', ['-l', target], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'delete', netns]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** Networks as the Director sends them. */
export const MANUAL_NETWORK = {
  default: {
    type: 'manual',
    ip: '10.244.0.34',
    netmask: '255.255.255.0',
    gateway: '10.244.0.1',
    prefix: '32',
    dns: ['8.8.8.8'],
    default: ['dns', 'gateway'],
    cloud_properties: {},
  },
};
export const DYNAMIC_NETWORK = { default: { type: 'dynamic', default: ['dns', 'gateway'], cloud_properties: {} } };
