import { spawn } from 'node:child_process';

/** Median of a list of numbers (the machine is noisy: benchmarks quote medians, never means). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Wall time in ms of one child process run to exit, with `input` on its stdin. */
export function timeProcess(command: string, args: readonly string[], input: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, [...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
    child.stdin.end(input);
  });
}

export function formatRow(cells: readonly (string | number)[]): string {
  return cells.map((cell) => (typeof cell === 'number' ? cell.toFixed(1) : cell).toString().padEnd(28)).join('');
}
