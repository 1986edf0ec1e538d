// A client of the BOSH agent's HTTPS mbus: the JSON messages bosh-cli sends to port 6868 (create-env)
// and the Director sends over NATS, as documented in docs/real-bosh.md. Test tooling only.
import { request } from 'node:https';

/** One agent request's outcome: the reply's `value`, or the agent's `exception.message` as an Error. */
export interface AgentMbus {
  /** One request; resolves with `value`, rejects with the agent's exception or a transport error. */
  send(method: string, args: unknown[], options?: { timeoutMs?: number }): Promise<unknown>;
  /**
   * A long-running action (mount_disk, add_persistent_disk, unmount_disk, …): the agent answers with
   * `{agent_task_id, state: 'running'}`; `get_task` is polled every `pollMs` (200) until the state is not
   * `running`, and the task's final value is returned (bosh-cli's SendAsyncTaskMessage does the same).
   */
  task(method: string, args: unknown[], options?: { pollMs?: number; timeoutMs?: number }): Promise<unknown>;
  /** Polls `ping` until `pong` or `timeoutMs` (ms); resolves with the ms it took. */
  waitForPing(timeoutMs: number): Promise<number>;
}

export interface AgentMbusTarget {
  /** The VM's IP (the agent listens on 0.0.0.0:port inside its container). */
  host: string;
  port: number;
  user: string;
  password: string;
  /** PEM of the CA that signed the agent's mbus certificate (env.bosh.mbus.cert.ca). */
  ca: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function agentMbus(target: AgentMbusTarget): AgentMbus {
  let counter = 0;
  const send: AgentMbus['send'] = (method, args, options = {}) =>
    new Promise((resolve, reject) => {
      counter += 1;
      const body = JSON.stringify({ method, arguments: args, reply_to: `garden-cpi-spec-${counter}` });
      const req = request(
        {
          host: target.host,
          port: target.port,
          path: '/agent',
          method: 'POST',
          auth: `${target.user}:${target.password}`,
          ca: target.ca,
          // The certificate names the VM's IP only when the test knew it beforehand; the CA is still checked.
          checkServerIdentity: () => undefined,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: options.timeoutMs ?? 30_000,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200)
              return reject(new Error(`agent answered ${method} with HTTP ${String(res.statusCode)}: ${text.slice(0, 500)}`));
            let reply: { value?: unknown; exception?: { message?: string } };
            try {
              reply = JSON.parse(text) as typeof reply;
            } catch {
              return reject(new Error(`agent answered ${method} with non-JSON: ${text.slice(0, 500)}`));
            }
            if (reply.exception) return reject(new Error(`agent ${method}: ${reply.exception.message ?? JSON.stringify(reply.exception)}`));
            resolve(reply.value);
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`agent ${method}: no answer in ${String(options.timeoutMs ?? 30_000)} ms`)));
      req.on('error', reject);
      req.end(body);
    });

  const task: AgentMbus['task'] = async (method, args, options = {}) => {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    let value = await send(method, args);
    for (;;) {
      const state = value as { agent_task_id?: string; state?: string } | null;
      if (state === null || typeof state !== 'object' || state.state !== 'running') return value;
      if (state.agent_task_id === undefined) throw new Error(`agent ${method}: running task without agent_task_id`);
      if (Date.now() > deadline)
        throw new Error(`agent ${method}: task ${state.agent_task_id} still running after ${String(options.timeoutMs ?? 120_000)} ms`);
      await sleep(options.pollMs ?? 200);
      value = await send('get_task', [state.agent_task_id]);
    }
  };

  const waitForPing: AgentMbus['waitForPing'] = async (timeoutMs) => {
    const started = Date.now();
    let last: unknown;
    while (Date.now() - started < timeoutMs) {
      try {
        if ((await send('ping', [], { timeoutMs: 2_000 })) === 'pong') return Date.now() - started;
      } catch (error) {
        last = error;
      }
      await sleep(100);
    }
    throw new Error(`agent at ${target.host}:${String(target.port)} did not answer ping in ${String(timeoutMs)} ms; last error: ${String(last)}`);
  };

  return { send, task, waitForPing };
}
