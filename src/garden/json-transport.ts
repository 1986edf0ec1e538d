import type { AxiosInstance, AxiosResponse } from 'axios';
import { loadAxios } from './load-axios';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Logger } from '../log/logger';
import type { GardenRetryOptions } from './garden-client';
import { DEFAULT_LONG_REQUEST_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, type GardenTimeouts, MAX_JSON_RESPONSE_BYTES } from './garden-limits';
import type { GardenConnector } from './garden-connector';
import { GardenBadResponse, GardenError, GardenUnreachable, UNREACHABLE_CODES, errorFromBody } from './garden-errors';
import { emptyObjectSchema, errorBodySchema } from './garden-wire-schemas';

/** One HTTP call on a non-process route. */
export interface GardenRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with the handle etc. already in place, each placed value encoded with pathSegment. */
  path: string;
  query?: Record<string, string>;
  /** Serialised with JSON.stringify and sent as application/json. */
  json?: unknown;
  /** For the error message (and ContainerNotFound's handle when the body has none). */
  handle?: string;
  /** Use the long deadline (create, stream_in, stream_out) instead of the JSON routes' one. */
  long?: boolean;
}

/** GETs retry on these codes only: the request cannot have had an effect, or is safe to repeat. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT']);
const MAX_ERROR_BODY = 64 * 1024;

export interface JsonTransport {
  /** Sends the request and validates a 2xx JSON body with `schema`; GETs retry on connect errors. */
  call<S extends z.ZodType>(request: GardenRequest, schema: S): Promise<z.infer<S>>;
  /** Like call, for routes answering `{}`: the body is checked to be JSON (or empty) and dropped. */
  callVoid(request: GardenRequest): Promise<void>;
  /** PUT of a raw tar body (streamed, chunked). Never retried. */
  putTar(request: GardenRequest, tar: Readable): Promise<void>;
  /** GET of a streamed body; retried only while no response has started. */
  getStream(request: GardenRequest): Promise<Readable>;
}

/** "METHOD /path?k=v" for messages and logs (query left unencoded, for reading). */
export function routeOf(request: GardenRequest): string {
  const pairs = Object.entries(request.query ?? {}).map(([key, value]) => `${key}=${value}`);
  const query = pairs.length > 0 ? `?${pairs.join('&')}` : '';
  return `${request.method} ${request.path}${query}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A request that missed its deadline: Garden did not answer, or not completely, in time. Never retried. */
export function timedOut(route: string, handle: string | undefined, ms: number): GardenUnreachable {
  return new GardenUnreachable(`no complete answer within ${ms / 1000} s (the request's deadline)`, { route, handle, code: 'ETIMEDOUT' });
}

/** Runs `start` with an AbortSignal that fires after `ms`; `aborted()` tells whether it did. */
function withDeadline<T>(ms: number, start: (signal: AbortSignal, aborted: () => boolean) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return start(controller.signal, () => controller.signal.aborted).finally(() => clearTimeout(timer));
}

export function createJsonTransport(
  connector: GardenConnector,
  logger: Logger,
  retry: GardenRetryOptions = {},
  timeouts: GardenTimeouts = {},
  keepAlive = false,
): JsonTransport {
  const requestMs = timeouts.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const longRequestMs = timeouts.longRequestMs ?? DEFAULT_LONG_REQUEST_TIMEOUT_MS;
  const deadlineOf = (request: GardenRequest) => (request.long ? longRequestMs : requestMs);
  const attempts = Math.max(1, retry.attempts ?? 4);
  const initialDelayMs = retry.initialDelayMs ?? 200;
  const maxDelayMs = retry.maxDelayMs ?? 2000;
  const tcp = connector.address.network === 'tcp';

  // Loaded here, not at the top: calls that never talk to Garden (disks, stemcells) do not pay for axios.
  const { default: axios, isAxiosError } = loadAxios();
  const http: AxiosInstance = axios.create({
    adapter: 'http', // Node's http module: the fetch adapter is never probed (load-axios.ts)
    // Host is ignored by gdn; Go's client always says "api".
    baseURL: tcp ? `http://${connector.address.address}` : 'http://api',
    ...(tcp ? {} : { socketPath: connector.address.address }),
    httpAgent: connector.httpAgent(keepAlive),
    proxy: false, // a CPI host's http_proxy must never capture loopback Garden traffic
    maxRedirects: 0, // also keeps follow-redirects from buffering streamed request bodies
    decompress: false,
    validateStatus: () => true,
    transformResponse: [(data: unknown) => data],
    maxBodyLength: -1,
    maxContentLength: -1,
  });

  function unreachable(error: unknown, route: string, handle: string | undefined): GardenError | undefined {
    if (!isAxiosError(error)) return undefined;
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    const code = cause?.code ?? error.code ?? '';
    if (UNREACHABLE_CODES.has(code) || error.code === 'ERR_BAD_RESPONSE' || error.code === 'ERR_CANCELED') {
      return new GardenUnreachable(`cannot reach Garden at ${connector.address.address}: ${error.message}`, {
        route,
        handle,
        code: UNREACHABLE_CODES.has(code) ? code : 'ECONNRESET',
        cause: error,
      });
    }
    return undefined;
  }

  function toGardenError(error: unknown, route: string, handle: string | undefined): unknown {
    if (error instanceof GardenError) return error;
    if (isAxiosError(error) && /maxContentLength/.test(error.message)) {
      return new GardenBadResponse(`response body larger than ${MAX_JSON_RESPONSE_BYTES} bytes (the limit for a JSON route)`, { route, handle });
    }
    return (
      unreachable(error, route, handle) ?? new GardenError(error instanceof Error ? error.message : String(error), { route, handle, cause: error })
    );
  }

  function errorForStatus(status: number, text: string, route: string, handle: string | undefined): GardenError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const body = errorBodySchema.safeParse(parsed);
    if (body.success) return errorFromBody(body.data, route, status, handle);
    const excerpt = text.trim().slice(0, 500) || '<empty body>';
    return new GardenBadResponse(`HTTP ${status} with a non-Garden error body: ${excerpt}`, { route, handle, status });
  }

  /** Runs `once` up to `attempts` times for GETs whose failure is a retryable connection error. */
  async function withRetry<T>(request: GardenRequest, once: () => Promise<T>): Promise<T> {
    const route = routeOf(request);
    const tries = request.method === 'GET' ? attempts : 1;
    let delay = initialDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await once();
      } catch (raw) {
        const error = toGardenError(raw, route, request.handle);
        const retryable = error instanceof GardenUnreachable && RETRYABLE_CODES.has(error.code);
        if (!retryable || attempt >= tries) throw error;
        logger.warn('Garden request failed, retrying', { route, attempt, of: tries, code: error.code, delayMs: delay });
        await sleep(delay);
        delay = Math.min(delay * 2, maxDelayMs);
      }
    }
  }

  /** One JSON-route exchange, body read whole (at most MAX_JSON_RESPONSE_BYTES) within the deadline. */
  async function send(request: GardenRequest): Promise<AxiosResponse<string>> {
    logger.debug('Garden request', { route: routeOf(request) });
    const ms = deadlineOf(request);
    const response = await withDeadline(ms, (signal, aborted) =>
      http
        .request<string>({
          method: request.method,
          url: request.path,
          params: request.query,
          paramsSerializer: (params: Record<string, string>) => new URLSearchParams(params).toString(),
          responseType: 'text',
          signal,
          maxContentLength: MAX_JSON_RESPONSE_BYTES,
          ...(request.json === undefined ? {} : { data: JSON.stringify(request.json), headers: { 'Content-Type': 'application/json' } }),
        })
        .catch((error: unknown) => {
          throw aborted() ? timedOut(routeOf(request), request.handle, ms) : error;
        }),
    );
    logger.debug('Garden response', { route: routeOf(request), status: response.status });
    return response;
  }

  function parseOk<S extends z.ZodType>(response: AxiosResponse<string>, request: GardenRequest, schema: S): z.infer<S> {
    const route = routeOf(request);
    const text = typeof response.data === 'string' ? response.data : String(response.data ?? '');
    if (response.status < 200 || response.status > 299) throw errorForStatus(response.status, text, route, request.handle);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GardenBadResponse(`HTTP ${response.status} with a non-JSON body: ${text.trim().slice(0, 500) || '<empty body>'}`, {
        route,
        handle: request.handle,
        status: response.status,
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new GardenBadResponse(`unexpected response body: ${parsed.error.message} in ${text.trim().slice(0, 500)}`, {
        route,
        handle: request.handle,
        status: response.status,
      });
    }
    return parsed.data;
  }

  async function readCapped(stream: Readable): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buffer);
      size += buffer.length;
      if (size >= MAX_ERROR_BODY) break; // the rest is never read (breaking destroys the stream)
    }
    return Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8');
  }

  return {
    call(request, schema) {
      return withRetry(request, async () => parseOk(await send(request), request, schema));
    },

    async callVoid(request) {
      await withRetry(request, async () => {
        const response = await send(request);
        // gdn always answers `{}`; an empty 2xx body is accepted too (nothing to lose).
        if (response.status >= 200 && response.status <= 299 && String(response.data ?? '').trim() === '') return;
        parseOk(response, request, emptyObjectSchema);
      });
    },

    async putTar(request, tar) {
      const route = routeOf(request);
      logger.debug('Garden request', { route });
      let tarError: unknown;
      const onTarError = (error: unknown) => {
        tarError = error;
      };
      tar.once('error', onTarError);
      const ms = deadlineOf(request);
      try {
        const response = await withDeadline(ms, (signal, aborted) =>
          http
            .request<string>({
              method: 'PUT',
              url: request.path,
              params: request.query,
              paramsSerializer: (params: Record<string, string>) => new URLSearchParams(params).toString(),
              responseType: 'text',
              data: tar,
              headers: { 'Content-Type': 'application/x-tar' },
              signal,
              maxContentLength: MAX_JSON_RESPONSE_BYTES,
            })
            .catch((error: unknown) => {
              throw aborted() ? timedOut(route, request.handle, ms) : error;
            }),
        );
        logger.debug('Garden response', { route, status: response.status });
        parseOk(response, request, emptyObjectSchema);
      } catch (error) {
        if (tarError !== undefined) {
          throw new GardenError(`building the tar stream failed: ${tarError instanceof Error ? tarError.message : String(tarError)}`, {
            route,
            handle: request.handle,
            cause: tarError,
          });
        }
        throw toGardenError(error, route, request.handle);
      } finally {
        tar.off('error', onTarError);
        // gdn may answer (an error) before reading the whole body: release the producer.
        if (!tar.readableEnded) tar.destroy();
      }
    },

    getStream(request) {
      const route = routeOf(request);
      const ms = deadlineOf(request);
      return withRetry(request, async () => {
        logger.debug('Garden request', { route });
        // One deadline for the head and the whole body: the body is destroyed with ETIMEDOUT when it passes.
        const controller = new AbortController();
        const started: { body?: Readable } = {};
        const timer = setTimeout(() => {
          if (started.body === undefined) controller.abort();
          else
            started.body.destroy(
              Object.assign(new Error(`no complete answer within ${ms / 1000} s (the request's deadline)`), { code: 'ETIMEDOUT' }),
            );
        }, ms);
        let response: AxiosResponse<Readable>;
        try {
          response = await http.request<Readable>({
            method: 'GET',
            url: request.path,
            params: request.query,
            paramsSerializer: (params: Record<string, string>) => new URLSearchParams(params).toString(),
            responseType: 'stream',
            signal: controller.signal,
          });
        } catch (error) {
          clearTimeout(timer);
          throw controller.signal.aborted ? timedOut(route, request.handle, ms) : error;
        }
        logger.debug('Garden response', { route, status: response.status });
        const body = response.data;
        started.body = body;
        body.once('close', () => clearTimeout(timer));
        if (response.status < 200 || response.status > 299) {
          throw errorForStatus(response.status, await readCapped(body), route, request.handle);
        }
        return body;
      });
    },
  };
}
