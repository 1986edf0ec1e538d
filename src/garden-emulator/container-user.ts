import { chown, mkdir, readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { containerPath } from './file-streaming';
import { serverError } from './garden-error';

/** Who a process runs as, and its home, resolved in the container's own /etc/passwd and /etc/group. */
export interface ContainerUser {
  uid: number;
  gid: number;
  home: string;
}

const ROOT: ContainerUser = { uid: 0, gid: 0, home: '/' };

function entries(text: string | undefined): string[][] {
  return (text ?? '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(':'));
}

const numeric = (text: string): number | undefined => (/^\d+$/.test(text) ? Number(text) : undefined);

/**
 * gdn's user lookup (GU `rundmc/users`): ProcessSpec.user is `name|uid[:group|gid]`, empty meaning uid 0.
 * A user found in passwd brings its gid and home; a numeric user not in it runs with gid 0 and home `/`; an
 * unknown name fails the run. Without a passwd file, `root` is uid 0 with home `/`.
 */
export async function lookupContainerUser(root: string, spec: string): Promise<ContainerUser> {
  const passwd = await readFile(containerPath(root, '/etc/passwd'), 'utf8').catch(() => undefined);
  if (passwd === undefined && spec === 'root') return ROOT;
  const [userArg = '', groupArg = ''] = spec.split(':');
  const uidArg = numeric(userArg);
  const found = entries(passwd).find(([name, , uid]) =>
    userArg === '' ? uid === '0' : uidArg !== undefined ? numeric(uid ?? '') === uidArg : name === userArg,
  );
  const user: ContainerUser = { ...ROOT };
  if (found !== undefined) {
    user.uid = numeric(found[2] ?? '') ?? 0;
    user.gid = numeric(found[3] ?? '') ?? 0;
    user.home = found[5] ?? '/';
  } else if (userArg !== '') {
    if (uidArg === undefined) throw serverError(`unable to find user ${userArg}: no matching entries in passwd file`);
    user.uid = uidArg;
  }
  if (groupArg !== '') {
    const gidArg = numeric(groupArg);
    const group = await readFile(containerPath(root, '/etc/group'), 'utf8').catch(() => undefined);
    const match = entries(group).find(([name, , gid]) => (gidArg !== undefined ? numeric(gid ?? '') === gidArg : name === groupArg));
    if (match !== undefined) user.gid = numeric(match[2] ?? '') ?? 0;
    else if (gidArg !== undefined) user.gid = gidArg;
    else throw serverError(`unable to find group ${groupArg}: no matching entries in group file`);
  }
  return user;
}

/** gdn's working directory: made if missing (mode 0755), the dirs it makes owned by the process user. */
export async function makeWorkingDir(root: string, dir: string, user: ContainerUser): Promise<void> {
  let current = '/';
  for (const part of posix
    .normalize(`/${dir}`)
    .split('/')
    .filter((segment) => segment !== '')) {
    current = posix.join(current, part);
    const hostPath = containerPath(root, current);
    if (
      await stat(hostPath).then(
        () => true,
        () => false,
      )
    )
      continue;
    await mkdir(hostPath, { mode: 0o755 });
    await chown(hostPath, user.uid, user.gid);
  }
}
