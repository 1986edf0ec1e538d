// The TLS material a BOSH agent needs to serve its HTTPS mbus: a CA and a server certificate signed by
// it, as bosh-cli's create-env manifests pass in `env.bosh.mbus.cert` (the agent refuses to start its
// HTTPS handler without one). Made with the openssl CLI, in a temp dir. Test tooling only.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM strings, named as the agent's settings name them (`env.bosh.mbus.cert`). */
export interface MbusCert {
  ca: string;
  certificate: string;
  private_key: string;
}

/** A fresh CA and a server certificate for `ips` (subjectAltName IP entries), valid 2 days. */
export async function makeMbusCert(ips: string[] = ['127.0.0.1']): Promise<MbusCert> {
  const dir = await mkdtemp(join(tmpdir(), 'mbus-cert-'));
  try {
    const file = (name: string): string => join(dir, name);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=garden-cpi-test-ca',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]);
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=bosh-agent',
      '-keyout',
      file('agent.key'),
      '-out',
      file('agent.csr'),
    ]);
    await writeFile(file('ext.cnf'), `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\n`);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file('agent.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      file('ext.cnf'),
      '-out',
      file('agent.pem'),
    ]);
    const [ca, certificate, privateKey] = await Promise.all(['ca.pem', 'agent.pem', 'agent.key'].map((name) => readFile(file(name), 'utf8')));
    return { ca: ca ?? '', certificate: certificate ?? '', private_key: privateKey ?? '' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
