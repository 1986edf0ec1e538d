import { benchPerCall, printPerCall } from './per-call';
import { benchStemcellImport, formatStemcellImportReport } from './stemcell-import';
import { benchDiskCreate, printDiskCreate } from './disk-create';

/**
 * `npm run bench`: every benchmark in one run, medians and ratios (never a timed test assertion).
 * BENCH_BASELINE=<another build's dist/cpi.js> runs that build side by side in the per-call tables;
 * GARDEN_REAL_ADDRESS=host:port (scripts/real-garden.sh start) adds the per-call table against a real gdn;
 * BENCH_RUNS sets the rounds (per call, default 11; stemcell import, default 5).
 */
async function main(): Promise<void> {
  const runs = process.env.BENCH_RUNS === undefined ? undefined : Number(process.env.BENCH_RUNS);
  printPerCall(await benchPerCall({ runs }), 'the Garden emulator');

  const realGarden = process.env.GARDEN_REAL_ADDRESS ?? '';
  if (realGarden !== '') {
    const network = realGarden.startsWith('/') ? 'unix' : 'tcp';
    printPerCall(await benchPerCall({ runs, garden: { kind: 'real', network, address: realGarden } }), `a real gdn at ${realGarden}`);
  } else {
    console.log('## real gdn: not measured (set GARDEN_REAL_ADDRESS, e.g. from scripts/real-garden.sh env)');
  }

  const diskRuns = 7;
  printDiskCreate(await benchDiskCreate(diskRuns), diskRuns);

  // The slowest: a generated >= 200 MiB, >= 20,000-entry stemcell.
  console.log(formatStemcellImportReport(await benchStemcellImport({ runs: runs ?? 5 })));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
