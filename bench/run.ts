import { benchInfoStartup } from './info-startup';

/** `npm run bench`: every benchmark in one run, medians and ratios (never a timed test assertion). */
async function main(): Promise<void> {
  const info = await benchInfoStartup();
  console.log('## info start-up (41 interleaved runs each)');
  console.log(`info through dist/cpi.js : median ${info.infoMs.toFixed(1)} ms`);
  console.log(`bare node -e 0           : median ${info.bareMs.toFixed(1)} ms`);
  console.log(`ratio                    : ${info.ratio.toFixed(2)}x (target <= 1.30x)`);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
