/**
 * The CPI calls of one `bosh create-env`/`delete-env` run, read back from the bosh CLI's debug log
 * (BOSH_LOG_LEVEL=debug, BOSH_LOG_PATH). bosh-cli's cpiCmdRunner logs every call it makes as
 *   Exit Code <n> when executing external CPI command '<path>'
 *   STDIN: '<request JSON>'
 *   STDOUT: '<response JSON>'
 *   STDERR: '<whatever the CPI logged>'
 * (bosh-cli v7 cloud/cpi_cmd_runner.go). The time of each call is the CPI's own: the response's `log`,
 * which garden-cpi ends with "(<n> ms)" (src/rpc/run-cpi.ts), measured inside the CPI process from the
 * first byte of the request to the response.
 */
export interface CpiCall {
  method: string;
  /** The CPI's own measure; undefined when its response carries none (a crashed process). */
  ms: number | undefined;
  /** The CPI error type (`Bosh::Clouds::…`) when the call failed. */
  error: string | undefined;
  exitCode: number;
  /** The CPI's stderr log lines for this call. */
  stderr: string[];
}

export interface MethodTotals {
  method: string;
  count: number;
  totalMs: number;
  errors: number;
}

const CALL =
  /Exit Code (\d+) when executing external CPI command '[^'\n]*'\nSTDIN: '([^\n]*)'\nSTDOUT: '([^\n]*)\n?'\nSTDERR: '([\s\S]*?)'(?=\n\[|\n*$)/g;

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Every CPI call in a bosh CLI debug log, in order. Lines that are not such a block are ignored. */
export function parseCpiCalls(cliLog: string): CpiCall[] {
  const calls: CpiCall[] = [];
  for (const match of cliLog.matchAll(CALL)) {
    const [, exitCode, stdin, stdout, stderr] = match;
    const request = parseJson(stdin ?? '');
    const response = parseJson(stdout ?? '');
    const log = typeof response?.log === 'string' ? response.log : '';
    const ms = /\((\d+) ms\)\s*$/.exec(log)?.[1];
    const error = response?.error as { type?: unknown } | null | undefined;
    calls.push({
      method: typeof request?.method === 'string' ? request.method : '(unparsable request)',
      ms: ms === undefined ? undefined : Number(ms),
      error: error && typeof error.type === 'string' ? error.type : undefined,
      exitCode: Number(exitCode),
      stderr: (stderr ?? '').split('\n').filter((line) => line.trim() !== ''),
    });
  }
  return calls;
}

/** Calls grouped by method, in the order each method was first called. */
export function totalsByMethod(calls: readonly CpiCall[]): MethodTotals[] {
  const totals = new Map<string, MethodTotals>();
  for (const call of calls) {
    const entry = totals.get(call.method) ?? { method: call.method, count: 0, totalMs: 0, errors: 0 };
    entry.count += 1;
    entry.totalMs += call.ms ?? 0;
    if (call.error !== undefined || call.exitCode !== 0) entry.errors += 1;
    totals.set(call.method, entry);
  }
  return [...totals.values()];
}
