/**
 * Runs the Garden emulator as its own process (for `npm run demo`, benchmarks and tests that spawn the CPI):
 *   tsx src/garden-emulator/cli.ts --listen 127.0.0.1:7777 | --socket /path  --state-dir DIR [--exec] [--tag T]
 * Prints one line `listening <address>` on stdout when ready; SIGTERM/SIGINT close it cleanly.
 */
import { startGardenEmulator, type GardenEmulatorOptions } from './garden-emulator';
import type { Logger } from '../log/logger';

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: cli.ts (--listen HOST:PORT | --socket PATH) --state-dir DIR [--exec] [--tag T] [--verbose]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { options: GardenEmulatorOptions; verbose: boolean } {
  let listen: GardenEmulatorOptions['listen'] | undefined;
  let stateDir: string | undefined;
  let exec = false;
  let tag: string | undefined;
  let verbose = false;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = (): string => argv[++i] ?? usage(`${flag ?? ''} needs a value`);
    if (flag === '--listen') {
      const text = value();
      const colon = text.lastIndexOf(':');
      if (colon < 0) usage(`--listen wants HOST:PORT, got ${text}`);
      listen = { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
    } else if (flag === '--socket') listen = { socketPath: value() };
    else if (flag === '--state-dir') stateDir = value();
    else if (flag === '--exec') exec = true;
    else if (flag === '--tag') tag = value();
    else if (flag === '--verbose') verbose = true;
    else usage(`unknown argument ${flag ?? ''}`);
  }
  if (listen === undefined) usage('one of --listen or --socket is required');
  if (stateDir === undefined) usage('--state-dir is required');
  return { options: { listen, stateDir, processMode: exec ? 'exec' : 'scripted', ...(tag === undefined ? {} : { tag }) }, verbose };
}

/** Log lines go to stderr; stdout carries only the "listening" line. */
function stderrLogger(verbose: boolean): Logger {
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    if (level === 'debug' && !verbose) return;
    process.stderr.write(`${new Date().toISOString()} ${level} ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

async function main(): Promise<void> {
  const { options, verbose } = parseArgs(process.argv.slice(2));
  const emulator = await startGardenEmulator({ ...options, logger: stderrLogger(verbose) });
  process.stdout.write(`listening ${emulator.address.address}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`garden emulator: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`garden emulator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
