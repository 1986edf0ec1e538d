// zod/mini keeps `info` fast: this runs on every call (docs/cpi-contract.md, `info`).
import * as z from 'zod/mini';
import { InvalidRequest } from '../errors/cpi-errors';
import { describeFirstIssue, type ValidationIssue } from '../errors/validation-message';
import { parseJsonText } from '../errors/json-text';
import { MAX_REQUEST_ID_LENGTH, printable } from '../log/printable';

export const requestEnvelopeSchema = z.object({
  method: z.string().check(z.minLength(1, 'must be a non-empty string')),
  arguments: z.array(z.unknown()),
  context: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
  api_version: z.optional(z.nullable(z.int().check(z.minimum(1, 'must be an integer >= 1')))),
});

export type RequestEnvelope = z.infer<typeof requestEnvelopeSchema>;

/** Parses the raw stdin text into the request envelope, or throws InvalidRequest naming the problem. */
export function parseRequest(text: string): RequestEnvelope {
  if (text.trim() === '') throw new InvalidRequest('Invalid request: stdin was empty, expected one JSON object');
  // JSON.parse quotes part of the input, which may hold secrets: keep only the position.
  const parsed = parseJsonText(text);
  if (!parsed.ok) throw new InvalidRequest(`Invalid request: not valid JSON (${parsed.where})`);
  const json = parsed.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidRequest(
      `Invalid request: expected a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`,
    );
  }
  const result = requestEnvelopeSchema.safeParse(json);
  if (!result.success) {
    throw new InvalidRequest(`Invalid request: ${describeFirstIssue(result.error.issues as readonly ValidationIssue[], json)}`);
  }
  return result.data;
}

/**
 * The request id the Director sends in context.request_id (bosh-cli sends none), made safe for a log line:
 * control characters escaped and at most MAX_REQUEST_ID_LENGTH characters, so a newline in it cannot
 * forge log lines wherever it is logged or echoed.
 */
export function requestIdOf(request: RequestEnvelope): string | undefined {
  const id = request.context?.request_id;
  return typeof id === 'string' ? printable(id, MAX_REQUEST_ID_LENGTH) : undefined;
}
