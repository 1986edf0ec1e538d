import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BUNDLE = resolve(__dirname, '../dist/cpi.js');

export interface CpiRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as exactly one JSON document (throws when it is not). */
  response: { result: unknown; error: { type: string; message: string; ok_to_retry: boolean } | null; log: string };
}

/**
 * Spawns the built bundle exactly as the Director does: environment cleared except PATH (plus what the
 * test adds), request written to stdin and stdin closed, stdout read whole.
 */
export function runCpi(
  configPath: string | undefined,
  stdin: string | Buffer,
  options: {
    env?: Record<string, string>;
    args?: string[];
    /** A command the bundle runs under, e.g. `['prlimit', '--nofile=256:256']`. */
    wrapper?: string[];
    /** Called with the spawned process (e.g. to sample its memory while it runs). */
    onSpawn?: (child: ChildProcess) => void;
  } = {},
): Promise<CpiRun> {
  return new Promise((resolvePromise, reject) => {
    const args = options.args ?? (configPath === undefined ? [] : [configPath]);
    const [command, ...commandArgs] = [...(options.wrapper ?? []), process.execPath, BUNDLE, ...args];
    const child = spawn(command ?? process.execPath, commandArgs, {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    child.stdin.on('error', () => undefined);
    child.once('close', (status, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      let response: CpiRun['response'];
      try {
        response = JSON.parse(stdout) as CpiRun['response'];
      } catch {
        reject(
          new Error(
            `stdout is not one JSON document: ${JSON.stringify(stdout.slice(0, 500))}; stderr: ${Buffer.concat(err).toString('utf8').slice(0, 2000)}`,
          ),
        );
        return;
      }
      resolvePromise({ status, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), response });
    });
    options.onSpawn?.(child);
    child.stdin.end(stdin);
  });
}

/** A request as the Director sends it. */
export function request(method: string, args: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ method, arguments: args, context: { director_uuid: 'spec-director', request_id: 'cpi-123456' }, ...extra });
}

/** A temp dir holding a valid cpi.json whose store dirs live inside it (none created by the CPI up front). */
export async function tempConfig(
  overrides: Record<string, unknown> = {},
): Promise<{ dir: string; configPath: string; config: Record<string, unknown> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cpi-spec-'));
  const config = {
    warden: { connect_network: 'tcp', connect_address: '127.0.0.1:1' },
    actions: {
      stemcells_dir: join(dir, 'stemcells'),
      disks_dir: join(dir, 'disks'),
      host_ephemeral_bind_mounts_dir: join(dir, 'ephemeral'),
      host_persistent_bind_mounts_dir: join(dir, 'persistent'),
      state_dir: join(dir, 'state'),
    },
    agent: { mbus: 'nats://nats:secret-nats-password@10.254.50.4:4222', ntp: [] },
    ...overrides,
  };
  const configPath = join(dir, 'cpi.json');
  await writeFile(configPath, JSON.stringify(config));
  return { dir, configPath, config };
}
