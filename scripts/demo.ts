import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `npm run demo`: drives the built CPI the way the Director does, one process per call, printing one line per
 * call (method, result summary, milliseconds).
 */
const BUNDLE = resolve(__dirname, '../dist/cpi.js');

interface Response {
  result: unknown;
  error: { type: string; message: string } | null;
}

function call(configPath: string, method: string, args: unknown[]): Promise<Response> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BUNDLE, configPath], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('close', () => {
      const response = JSON.parse(out) as Response;
      const summary = response.error ? `${response.error.type}: ${response.error.message}` : JSON.stringify(response.result);
      console.log(`${method.padEnd(18)} ${summary.slice(0, 110).padEnd(112)} ${String(Date.now() - started).padStart(5)} ms`);
      resolvePromise(response);
    });
    child.stdin.end(JSON.stringify({ method, arguments: args, context: { director_uuid: 'demo', request_id: `cpi-${Date.now() % 1000000}` }, api_version: 2 }));
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'garden-cpi-demo-'));
  try {
    const configPath = join(dir, 'cpi.json');
    await writeFile(
      configPath,
      JSON.stringify({
        warden: { connect_network: 'tcp', connect_address: process.env.GARDEN_ADDRESS ?? '127.0.0.1:7777' },
        actions: { stemcells_dir: join(dir, 'stemcells'), disks_dir: join(dir, 'disks'), state_dir: join(dir, 'state') },
        agent: { mbus: 'nats://nats:nats@127.0.0.1:4222' },
      }),
    );
    const info = await call(configPath, 'info', []);
    if (info.error) throw new Error('info failed');
    await call(configPath, 'create_network', [{ type: 'manual', cloud_properties: {} }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
