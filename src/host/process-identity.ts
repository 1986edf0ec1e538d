import { readFileSync } from 'node:fs';

/**
 * The one way the CPI tells that a process is dead. A pid alone cannot tell: the kernel reuses pids, so a
 * leftover whose writer died long ago could be kept forever by an unrelated process, and a marker could name
 * a live stranger. A process is its pid plus its start time (field 22 of /proc/<pid>/stat, in clock ticks
 * since boot), which no later process with the same pid can share.
 */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot, as /proc/<pid>/stat gives it (a decimal string). */
  started: string;
}

/** Field 22 of /proc/<pid>/stat; undefined when no process has this pid. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

let self: ProcessIdentity | undefined;

/** This process (read once). */
export function currentProcess(): ProcessIdentity {
  self ??= { pid: process.pid, started: processStartTime(process.pid) ?? '0' };
  return self;
}

/** True when the process `owner` names has exited: no process has its pid, or one started at another time. */
export function isProcessGone(owner: ProcessIdentity): boolean {
  return processStartTime(owner.pid) !== owner.started;
}
