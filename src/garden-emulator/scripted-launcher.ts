import type { LaunchedProcess, LaunchTarget, ProcessExit, ProcessLauncher, ProcessOutput } from './process-launcher';
import { signalExitStatus } from './process-launcher';
import type { ProcessSpecJson } from './wire-types';

/** What a scripted process does: its output and exit status, chosen by the test. */
export interface ProcessScript {
  stdout?: string;
  stderr?: string;
  exitStatus: number;
  delayMs?: number;
  /** Never exits by itself: runs until signalled, stopped or destroyed (a daemon such as the agent). */
  detached?: boolean;
}

export type ProcessMatcher = (spec: ProcessSpecJson, handle: string) => boolean;

/**
 * Without a matching script a process exits 0 with no output, except one that starts a daemon the way the
 * CPI starts the agent (runsvdir-start, /sbin/init, bosh-agent): that one keeps running until destroyed.
 */
const DAEMON_COMMAND = /runsvdir-start|\/sbin\/init\b|bosh-agent/;

/** Processes that only pretend to run: recorded, with output and exit status from registered scripts. */
export class ScriptedLauncher implements ProcessLauncher {
  private readonly scripts: { match: ProcessMatcher; script: ProcessScript }[] = [];

  /** The most recently registered matching script wins. */
  register(match: ProcessMatcher, script: ProcessScript): void {
    this.scripts.unshift({ match, script });
  }

  clear(): void {
    this.scripts.length = 0;
  }

  async launch(target: LaunchTarget, spec: ProcessSpecJson, output: ProcessOutput): Promise<LaunchedProcess> {
    const script = this.scripts.find((entry) => entry.match(spec, target.handle))?.script ?? {
      exitStatus: 0,
      detached: DAEMON_COMMAND.test([spec.path, ...(spec.args ?? [])].join(' ')),
    };
    let settle: (exit: ProcessExit) => void = () => undefined;
    const exit = new Promise<ProcessExit>((resolve) => {
      settle = resolve;
    });
    let done = false;
    const finish = (result: ProcessExit): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settle(result);
    };
    const complete = (): void => {
      if (script.stdout) output.stdout(Buffer.from(script.stdout));
      if (script.stderr) output.stderr(Buffer.from(script.stderr));
      finish({ exitStatus: script.exitStatus });
    };
    const timer = script.detached ? undefined : setTimeout(complete, script.delayMs ?? 0);
    return {
      writeStdin: () => undefined,
      closeStdin: () => undefined,
      signal: (signal) => finish({ exitStatus: signalExitStatus(signal) }),
      exit,
    };
  }
}
