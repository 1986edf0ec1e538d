// A node:test reporter that prints one line per suite (a top-level describe, or a spec file that failed to
// load) as it finishes, with its time, and under a failed suite the tests that failed and why. What the
// tests print themselves (test:stdout) is passed through. scripts/test.mjs uses it on a terminal and off;
// with SUITE_DURATIONS_FILE set it also writes each spec file's time there (JSON, file -> ms) at the end.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`.padStart(8);
// Tests cancelled because their parent failed (a hook threw, a suite timed out, a subtest was not awaited)
// are named on one line: their own error says only that they were cancelled.
const CANCELLED_SHOWN = 10;

function firstLines(error) {
  const cause = error?.cause ?? error;
  const text = String(cause?.message ?? cause ?? 'failed');
  return text.split('\n').slice(0, 6).join('\n      ');
}

export default async function* suiteReporter(source) {
  const failures = new Map(); // file -> failed tests inside its suites
  const cancelled = new Map(); // file -> names of the tests cancelled by their parent
  const durations = {}; // file -> ms of its top-level suites, for SUITE_DURATIONS_FILE
  for await (const event of source) {
    const data = event.data ?? {};
    const file = data.file ? relative(process.cwd(), data.file) : '';
    if (event.type === 'test:stdout' || event.type === 'test:stderr') {
      yield data.message;
    } else if (event.type === 'test:fail' && data.nesting > 0) {
      // Only the innermost failures are worth a line: their suites fail because of them.
      const failureType = data.details?.error?.failureType;
      if (failureType === 'cancelledByParent') {
        cancelled.set(file, [...(cancelled.get(file) ?? []), data.name]);
      } else if (failureType !== 'subtestsFailed') {
        const list = failures.get(file) ?? [];
        list.push(`    ✗ ${data.name}\n      ${firstLines(data.details?.error)}`);
        failures.set(file, list);
      }
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && data.nesting === 0) {
      if (file) durations[file] = (durations[file] ?? 0) + (data.details?.duration_ms ?? 0);
      const skipped = data.skip !== undefined ? ` (skipped: ${data.skip})` : '';
      const status = event.type === 'test:pass' ? 'ok  ' : 'FAIL';
      const where = file && !data.name.includes(file) ? `  (${file})` : '';
      yield `${status} ${seconds(data.details?.duration_ms ?? 0)}  ${data.name}${where}${skipped}\n`;
      if (event.type === 'test:fail') {
        const list = failures.get(file) ?? [];
        // The suite's own failure (its before/after hook threw, it timed out, its body threw) comes first.
        if (data.details?.error?.failureType !== 'subtestsFailed' || list.length === 0) {
          list.unshift(`      ${firstLines(data.details?.error)}`);
        }
        const names = cancelled.get(file) ?? [];
        if (names.length > 0) {
          const more = names.length > CANCELLED_SHOWN ? `, and ${names.length - CANCELLED_SHOWN} more` : '';
          list.push(`    ✗ cancelled when their parent failed: ${names.slice(0, CANCELLED_SHOWN).join(', ')}${more}`);
        }
        yield `${list.join('\n')}\n`;
        failures.delete(file);
        cancelled.delete(file);
      }
    }
  }
  // scripts/test.mjs starts the longest suites first next time (SUITE_DURATIONS_FILE: where to put them).
  if (process.env.SUITE_DURATIONS_FILE) writeFileSync(process.env.SUITE_DURATIONS_FILE, JSON.stringify(durations));
}
