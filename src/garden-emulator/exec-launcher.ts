import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { posix } from 'node:path';
import { lookupContainerUser, makeWorkingDir } from './container-user';
import { executableNotFound } from './garden-error';
import type { ExecSandbox } from './exec-sandbox';
import type { LaunchedProcess, LaunchTarget, ProcessExit, ProcessLauncher, ProcessOutput } from './process-launcher';
import { processEnvironment, signalExitStatus } from './process-launcher';
import type { ProcessSpecJson } from './wire-types';

export interface ExecTarget extends LaunchTarget {
  sandbox: ExecSandbox;
}

/** A host tool by absolute path: the process env (the container's PATH) must not decide which binary runs. */
function hostTool(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return dirs.map((dir) => posix.join(dir || '.', name)).find((candidate) => candidate.startsWith('/') && existsSync(candidate)) ?? name;
}

async function isExecutable(hostPath: string): Promise<boolean> {
  return access(hostPath, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Resolves the program inside the container the way runc's exec does, or fails as gdn does. */
async function resolveProgram(root: string, path: string, env: string[]): Promise<string> {
  if (path.includes('/')) {
    if (await isExecutable(posix.join(root, path))) return path;
    throw executableNotFound(`exec failed: unable to start container process: exec: "${path}": stat ${path}: no such file or directory`);
  }
  const searchPath =
    env
      .filter((entry) => entry.startsWith('PATH='))
      .pop()
      ?.slice(5) ?? '';
  for (const dir of searchPath.split(':')) {
    if (dir !== '' && (await isExecutable(posix.join(root, dir, path)))) return posix.join(dir, path);
  }
  throw executableNotFound(`exec failed: unable to start container process: exec: "${path}": executable file not found in $PATH`);
}

/**
 * Real processes: `nsenter` into the container's mount and UTS namespaces, rooted at its rootfs view, in the
 * working directory, as the user (uid, gid) the spec names; the program is exec'd directly, so its
 * environment is exactly gdn's (no shell in between to add PWD or SHLVL).
 */
export class ExecLauncher implements ProcessLauncher<ExecTarget> {
  async launch(target: ExecTarget, spec: ProcessSpecJson, output: ProcessOutput): Promise<LaunchedProcess> {
    const root = target.sandbox.hostRootPath;
    const user = await lookupContainerUser(root, spec.user ?? '');
    const env = processEnvironment(target.containerEnv, spec, user.uid);
    // runc adds HOME (the user's home) when the environment has none.
    if (!env.some((entry) => entry.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    // gdn: the spec's dir, else the user's home; made if missing, before runc looks for the program.
    const dir = spec.dir === undefined || spec.dir === '' ? user.home : spec.dir;
    await makeWorkingDir(root, dir, user);
    const program = await resolveProgram(root, spec.path, env);
    const command = [
      '-t',
      String(target.sandbox.initPid),
      '-m',
      '-u',
      // Opened before entering: the view as the host reaches it; --wdns is resolved inside the new root.
      `--root=${root}`,
      `--wdns=${dir}`,
      '-S',
      String(user.uid),
      '-G',
      String(user.gid),
      '--',
      program,
      ...(spec.args ?? []),
    ];
    const envObject = Object.fromEntries(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
    const child = spawn(hostTool('nsenter'), command, { env: envObject, stdio: 'pipe' });
    child.stdout.on('data', (chunk: Buffer) => output.stdout(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.stderr(chunk));
    child.stdin.on('error', () => undefined);
    const exit = new Promise<ProcessExit>((resolve) => {
      child.on('error', (error) => resolve({ error: error.message }));
      // 'close' waits for stdout/stderr to drain, so all output precedes the exit frame.
      child.on('close', (code, signal) => resolve({ exitStatus: code ?? (signal ? signalExitStatus(signal) : 255) }));
    });
    return {
      writeStdin: (data) => {
        if (child.stdin.writable) child.stdin.write(data);
      },
      closeStdin: () => child.stdin.end(),
      signal: (signal) => {
        child.kill(signal);
      },
      exit,
    };
  }
}
