import type { ProcessSpecJson } from './wire-types';

/** Where a launched process's output goes (every stream id attached to the process). */
export interface ProcessOutput {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export type ProcessExit = { exitStatus: number } | { error: string };

/** A started process, scripted or real. */
export interface LaunchedProcess {
  writeStdin(data: string): void;
  closeStdin(): void;
  signal(signal: 'SIGTERM' | 'SIGKILL'): void;
  readonly exit: Promise<ProcessExit>;
}

/** What a launcher needs to know about the container it runs a process in. */
export interface LaunchTarget {
  handle: string;
  /** ContainerSpec.env: inherited by every process. */
  containerEnv: string[];
}

/** Starts processes for one mode; throws GardenApiError (e.g. ExecutableNotFoundError) before anything runs. */
export interface ProcessLauncher<Target extends LaunchTarget = LaunchTarget> {
  launch(target: Target, spec: ProcessSpecJson, output: ProcessOutput): Promise<LaunchedProcess>;
}

/** A process exit status the way runc reports a signal death: 128 + signal number. */
export function signalExitStatus(signal: NodeJS.Signals | 'SIGTERM' | 'SIGKILL'): number {
  return signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 128 + (signalNumbers[signal] ?? 0);
}

const signalNumbers: Partial<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGPIPE: 13 };

/**
 * gdn's process environment (GU `rundmc/processes/unix_env.go`): container env, spec env, then PATH (by the
 * uid the user resolved to) and USER (the spec's user as given) when missing.
 */
export function processEnvironment(containerEnv: string[], spec: ProcessSpecJson, uid: number): string[] {
  const env = [...containerEnv, ...(spec.env ?? [])];
  if (!env.some((entry) => entry.startsWith('PATH='))) {
    env.push(uid === 0 ? 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : 'PATH=/usr/local/bin:/usr/bin:/bin');
  }
  if (!env.some((entry) => entry.startsWith('USER='))) env.push(`USER=${spec.user === undefined || spec.user === '' ? 'root' : spec.user}`);
  return env;
}
