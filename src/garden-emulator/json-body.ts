import { serverError } from './garden-error';

/** Go's decoder message for a body it cannot read as JSON (empty body: `EOF`). */
export function decodeJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw serverError('EOF');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw serverError(error instanceof Error ? error.message : String(error));
  }
}

type SafeParser<T> = {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
};

/** Validates decoded JSON against a wire schema; a mismatch is a 500 like Go's unmarshal error. */
export function parseWith<T>(schema: SafeParser<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw serverError(`json: cannot unmarshal: ${issue ? `${issue.path.map(String).join('.')}: ${issue.message}` : 'invalid value'}`);
}
