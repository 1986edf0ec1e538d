import { benchInfoStartup } from './info-startup';
import { benchVmLifecycle } from './vm-lifecycle';
import { benchStemcellImport, formatStemcellImportReport } from './stemcell-import';
import { benchDiskCreate, printDiskCreate } from './disk-create';
import { benchRealGarden, printRealGarden } from './real-garden';

/** `npm run bench`: every benchmark in one run, medians and ratios (never a timed test assertion). */
async function main(): Promise<void> {
  const info = await benchInfoStartup();
  console.log('## info start-up (41 interleaved runs each)');
  console.log(`info through dist/cpi.js : median ${info.infoMs.toFixed(1)} ms`);
  console.log(`bare node -e 0           : median ${info.bareMs.toFixed(1)} ms`);
  console.log(`ratio                    : ${info.ratio.toFixed(2)}x (target <= 1.30x)`);

  const vms = await benchVmLifecycle();
  console.log(`## VM lifecycle through dist/cpi.js against the Garden emulator (${vms.runs} runs)`);
  console.log(`create_vm : median ${vms.createMedianMs.toFixed(1)} ms, ${vms.connectionsPerCreate} Garden connections (upstream: ~11 requests)`);
  console.log(`delete_vm : median ${vms.deleteMedianMs.toFixed(1)} ms, ${vms.connectionsPerDelete} Garden connection`);
  console.log(
    `has_vm    : median ${vms.hasVmMedianMs.toFixed(1)} ms (per-call floor); create_vm/has_vm ${(vms.createMedianMs / vms.hasVmMedianMs).toFixed(2)}x`,
  );

  // A real gdn when one is running (scripts/real-garden.sh start; GARDEN_REAL_ADDRESS=host:port).
  const realGarden = process.env.GARDEN_REAL_ADDRESS ?? '';
  if (realGarden !== '') printRealGarden(await benchRealGarden(realGarden));
  else console.log('## real gdn: not measured (set GARDEN_REAL_ADDRESS, e.g. from scripts/real-garden.sh env)');

  const diskRuns = 7;
  printDiskCreate(await benchDiskCreate(diskRuns), diskRuns);

  // The slowest: a generated >= 200 MiB, >= 20,000-entry stemcell; BENCH_RUNS overrides the repetitions.
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  console.log(formatStemcellImportReport(await benchStemcellImport({ runs })));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
