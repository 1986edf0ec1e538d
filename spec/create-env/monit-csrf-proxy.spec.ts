import { type ChildProcess, spawn } from 'node:child_process';
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { goProgram } from '../../testkit/go-program';

// tools/bosh/monit-csrf-proxy, built and run for real between a client that talks like the agent's monit
// client (POST action=… with basic auth, no CSRF token) and a stand-in for monit 5.33's HTTP interface that
// enforces its CSRF rule: a POST needs a `securitytoken` form field equal to the `securitytoken` cookie.

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

interface Seen {
  method: string;
  url: string;
  body: string;
  authorization: string | undefined;
  cookie: string | undefined;
}

function readBody(message: IncomingMessage): Promise<string> {
  return new Promise((done) => {
    let text = '';
    message.setEncoding('utf8');
    message.on('data', (chunk: string) => (text += chunk));
    message.on('end', () => done(text));
  });
}

function send(port: number, method: string, path: string, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const outgoing = request(
      { host: '127.0.0.1', port, method, path, auth: 'vcap:random-password', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
      (response) => void readBody(response).then((text) => done({ status: response.statusCode ?? 0, body: text })),
    );
    outgoing.on('error', fail);
    outgoing.end(body);
  });
}

describe('test stemcell: monit-csrf-proxy (tools/bosh/monit-csrf-proxy)', () => {
  let monit: Server | undefined;
  let proxy: ChildProcess | undefined;
  let monitPort = 0;
  let proxyPort = 0;
  let missing = '';
  const seen: Seen[] = [];

  before(async () => {
    const built = await goProgram('tools/bosh', './monit-csrf-proxy');
    if ('missing' in built) {
      if (process.env.REQUIRE_REAL_PEERS === '1') throw new Error(`building tools/bosh/monit-csrf-proxy needs ${built.missing}`);
      missing = `${built.missing} (to build tools/bosh/monit-csrf-proxy)`;
      return;
    }
    const { binary } = built;

    monit = createServer((incoming, response) => {
      void readBody(incoming).then((body) => {
        seen.push({
          method: incoming.method ?? '',
          url: incoming.url ?? '',
          body,
          authorization: incoming.headers.authorization,
          cookie: incoming.headers.cookie,
        });
        const field = new URLSearchParams(body).get('securitytoken');
        const cookie = /(?:^|;\s*)securitytoken=([^;]*)/.exec(incoming.headers.cookie ?? '')?.[1];
        if (incoming.method === 'POST' && (field === null || field !== cookie)) {
          response.writeHead(403).end('Invalid CSRF Token');
          return;
        }
        response.writeHead(200).end(`ok ${incoming.method ?? ''} ${incoming.url ?? ''}`);
      });
    });
    await new Promise<void>((done) => monit?.listen(0, '127.0.0.1', done));
    monitPort = (monit.address() as AddressInfo).port;
    proxyPort = await freePort();
    proxy = spawn(binary, ['-listen', `127.0.0.1:${proxyPort}`, '-monit', `http://127.0.0.1:${monitPort}`], { stdio: 'ignore' });
    for (let attempt = 0; attempt < 100; attempt += 1) {
      if (
        await send(proxyPort, 'GET', '/ping').then(
          () => true,
          () => false,
        )
      )
        return;
      await new Promise((wake) => setTimeout(wake, 50));
    }
    throw new Error('monit-csrf-proxy did not start listening');
  });
  after(async () => {
    proxy?.kill();
    await new Promise((done) => (monit ? monit.close(done) : done(undefined)));
  });

  it('the stand-in refuses a POST without a token, as monit 5.33 refused the agent', async (t) => {
    if (missing) return t.skip(`missing: ${missing}`);
    assert.equal((await send(monitPort, 'POST', '/disk-marker', 'action=start')).status, 403);
  });

  it("through the proxy the agent's POST arrives with a matching token pair, its action and basic auth kept", async (t) => {
    if (missing) return t.skip(`missing: ${missing}`);
    seen.length = 0;
    const answer = await send(proxyPort, 'POST', '/disk-marker', 'action=start');
    assert.equal(answer.status, 200, answer.body);
    const [post] = seen;
    assert.equal(post?.url, '/disk-marker');
    assert.equal(new URLSearchParams(post?.body).get('action'), 'start');
    assert.equal(post?.authorization, `Basic ${Buffer.from('vcap:random-password').toString('base64')}`);
  });

  it('a GET (the status the agent polls) passes unchanged', async (t) => {
    if (missing) return t.skip(`missing: ${missing}`);
    seen.length = 0;
    const answer = await send(proxyPort, 'GET', '/_status2?format=xml');
    assert.equal(answer.status, 200);
    assert.deepEqual(
      seen.map(({ method, url, body, cookie }) => ({ method, url, body, cookie })),
      [{ method: 'GET', url: '/_status2?format=xml', body: '', cookie: undefined }],
    );
  });
});
