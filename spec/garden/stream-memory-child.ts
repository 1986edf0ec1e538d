// Child process for the stream memory test: streams a host file into a container and back out
// through the Garden client and prints {baselineRss, streamingPeakRss, maxRss, bytesOut} as JSON. Run in its own
// process so the peak RSS is the client's alone (the emulator lives in the parent).
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGardenClient } from '../../src/garden/garden-client';
import { tarFromEntries, tarFromFiles } from '../../src/garden/garden-tar';
import { silentLogger } from '../../src/log/logger';

async function main(): Promise<void> {
  // mode 'buffered' is the control: it reads the whole file first, so the measurement must see it.
  const [network, address, handle, file, mode = 'streaming'] = process.argv.slice(2);
  if ((network !== 'tcp' && network !== 'unix') || !address || !handle || !file) throw new Error('usage: <tcp|unix> <address> <handle> <file>');
  const client = createGardenClient({ network, address, logger: silentLogger });
  // Warm-up round trip so lazily loaded code (axios adapters, tar-stream) is not counted as streaming cost.
  await client.streamIn(handle, { destination: '/warm-up' }, tarFromEntries([{ name: 'x', content: 'x' }]));
  await pipeline(await client.streamOut(handle, { source: '/warm-up/x' }), new Writable({ write: (_chunk, _encoding, callback) => callback() }));
  const baselineRss = process.memoryUsage().rss;
  // maxRSS also covers start-up (tsx compiling); sampling isolates the streaming phase.
  let streamingPeakRss = baselineRss;
  const sampler = setInterval(() => {
    streamingPeakRss = Math.max(streamingPeakRss, process.memoryUsage().rss);
  }, 5);

  const tar =
    mode === 'buffered' ? tarFromEntries([{ name: 'blob.bin', content: await readFile(file) }]) : tarFromFiles([{ name: 'blob.bin', path: file }]);
  await client.streamIn(handle, { destination: '/big' }, tar);

  let bytesOut = 0;
  const counter = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytesOut += chunk.length;
      callback();
    },
  });
  await pipeline(await client.streamOut(handle, { source: '/big/blob.bin' }), counter);

  clearInterval(sampler);
  streamingPeakRss = Math.max(streamingPeakRss, process.memoryUsage().rss);
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ baselineRss, streamingPeakRss, maxRss, bytesOut })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
