import { execFile } from 'node:child_process';

/** The result of a finished command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed (closed at once without it). */
  input?: string;
  /** Kill the command after this many ms (0 or absent: no limit). */
  timeoutMs?: number;
  /** Working directory; relative paths in arguments (and in mount options) resolve against it. */
  cwd?: string;
}

/** Runs host commands with an argument array, never through a shell. */
export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** A command that exited non-zero (or could not start); the message carries its stderr. */
export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    cause?: unknown,
  ) {
    const detail = stderr.trim() || (cause instanceof Error ? cause.message : `exit code ${String(exitCode)}`);
    super(`'${[command, ...args].join(' ')}' failed: ${detail}`, cause === undefined ? undefined : { cause });
    this.name = 'CommandFailed';
  }
}

// Director workers run the CPI with PATH=/usr/sbin:/usr/bin:/sbin:/bin; be explicit so mount, losetup,
// mkfs.ext4 and iptables resolve whatever PATH the caller had.
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function createCommandRunner(): CommandRunner {
  return {
    run(command, args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = execFile(
          command,
          [...args],
          {
            encoding: 'utf8',
            maxBuffer: 64 * 1024 * 1024,
            timeout: options.timeoutMs ?? 0,
            ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
            env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SYSTEM_PATH}`, LC_ALL: 'C' },
          },
          (error, stdout, stderr) => {
            if (error) {
              const code = typeof error.code === 'number' ? error.code : null;
              reject(new CommandFailed(command, args, code, stderr, error));
              return;
            }
            resolve({ stdout, stderr });
          },
        );
        if (options.input !== undefined) child.stdin?.end(options.input);
        else child.stdin?.end();
      });
    },
  };
}
