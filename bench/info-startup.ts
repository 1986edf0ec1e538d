import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, timeProcess } from './bench-utils';

const RUNS = 41;

/** `info` through the bundle versus bare `node -e 0`, interleaved so both see the same noise. */
export async function benchInfoStartup(bundle = 'dist/cpi.js'): Promise<{ infoMs: number; bareMs: number; ratio: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-info-'));
  try {
    const config = join(dir, 'cpi.json');
    await writeFile(
      config,
      JSON.stringify({
        warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
        actions: {},
        agent: { mbus: 'nats://10.254.50.4:4222' },
      }),
    );
    const request = JSON.stringify({ method: 'info', arguments: [], context: { director_uuid: 'bench', request_id: 'cpi-1' } });
    const info: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      info.push(await timeProcess(process.execPath, [bundle, config], request));
      bare.push(await timeProcess(process.execPath, ['-e', '0'], request));
    }
    const infoMs = median(info);
    const bareMs = median(bare);
    return { infoMs, bareMs, ratio: infoMs / bareMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void benchInfoStartup().then((r) => {
    console.log(
      `info via bundle: median ${r.infoMs.toFixed(1)} ms; bare node -e 0: median ${r.bareMs.toFixed(1)} ms; ratio ${r.ratio.toFixed(2)}x (target <= 1.30x)`,
    );
  });
}
