import { processIo, runCpi } from './rpc/run-cpi';

// The CPI entry point: `node dist/cpi.js <config path>`, request on stdin, response on stdout.
// Exit explicitly once the response is written: a leftover socket or timer must not keep the call alive.
// Logs go to process.stderr, which is synchronous for files and pipes on Linux, so nothing is lost.
void runCpi(processIo())
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    // Only reachable if writing the response itself failed; say why on stderr.
    process.stderr.write(`garden-cpi: could not write the response: ${String(error)}\n`, () => process.exit(1));
  });
