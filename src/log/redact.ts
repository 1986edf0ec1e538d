/**
 * Secrets must never reach stderr or the `log` field: the Director copies both into task logs unredacted
 * (reference/cpi-rpc-contract.md §5.14). Redacts `env`, blobstore options, credentials in URLs and any key
 * that names a password, secret, key, token or certificate.
 */
const SECRET_KEY = /pass(word)?|secret|private|key|token|cert|credential|^ca$|^env$|^options$/i;
// Bounded repetitions keep this linear on huge hostile strings (an unbounded scheme part was quadratic).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,31}:\/\/)[^/@\s:]{1,256}(:[^/@\s]{0,256})?@/gi;

export const REDACTED = '<redacted>';

export function redactString(value: string): string {
  return value.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, SECRET_KEY.test(key) ? REDACTED : redact(inner, depth + 1)]),
  );
}

/** create_vm's `env` (6th argument) holds NATS certs and passwords whatever its keys are called. */
export function redactArguments(method: string, args: readonly unknown[]): unknown[] {
  return args.map((arg, index) => (method === 'create_vm' && index === 5 ? REDACTED : redact(arg)));
}
