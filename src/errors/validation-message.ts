/**
 * One wording for every validation error at the CPI's edges (cpi.json, the request envelope, method
 * arguments, cloud_properties): `<path>: expected <what>, got <what came>`, never zod's bare "Invalid input".
 * No zod import: the issues are read by shape, so zod/mini (start-up path) and full zod both fit, and
 * `info` loads nothing more for it.
 */

/** The fields of a zod (v4, full or mini) issue this module reads. */
export interface ValidationIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly expected?: string;
  readonly values?: readonly unknown[];
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
  readonly format?: string;
  readonly keys?: readonly string[];
  readonly errors?: readonly (readonly ValidationIssue[])[];
}

/** `['actions', 'ports', 0, 'host']` -> `actions.ports[0].host`; `prefix` goes in front (`arguments[1]`). */
export function formatIssuePath(path: readonly PropertyKey[], prefix = ''): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), prefix);
}

// Credentials in a URL never go into an error message (the Director copies messages into task logs).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,31}:\/\/)[^/@\s:]{1,256}(:[^/@\s]{0,256})?@/gi;
const SHOWN_STRING_LENGTH = 60;

/** What came, in a few words: `"tpc"`, `42`, `null`, `an object`, `nothing` (the key was missing). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > SHOWN_STRING_LENGTH ? `${value.slice(0, SHOWN_STRING_LENGTH)}…` : value;
    return JSON.stringify(shown.replace(URL_CREDENTIALS, '$1<redacted>@'));
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  return `a ${typeof value === 'object' ? 'JSON object' : typeof value}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  tuple: 'an array',
  object: 'a JSON object',
  record: 'a JSON object',
  null: 'null',
  nonoptional: 'a value',
};

function quoted(values: readonly unknown[]): string {
  const shown = values.map((value) => (typeof value === 'string' ? JSON.stringify(value) : String(value)));
  if (shown.length <= 1) return shown[0] ?? 'nothing';
  if (shown.length === 2) return `${shown[0]} or ${shown[1]}`;
  return `one of ${shown.join(', ')}`;
}

function bound(issue: ValidationIssue, direction: 'least' | 'most'): string {
  const limit = String(direction === 'least' ? issue.minimum : issue.maximum);
  switch (issue.origin) {
    case 'string':
      return direction === 'least' && limit === '1' ? 'a non-empty string' : `a string of at ${direction} ${limit} characters`;
    case 'array':
      return `at ${direction} ${limit} item${limit === '1' ? '' : 's'}`;
    default: {
      const inclusive = issue.inclusive !== false;
      const sign = direction === 'least' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      return `a number ${sign} ${limit}`;
    }
  }
}

/** zod's own texts; anything else was written by this CPI's schemas ("must be an absolute path"). */
function isDefaultMessage(message: string): boolean {
  return /^(Invalid|Too (small|big)|Unrecognized|Expected)/.test(message) || message === '';
}

/** "expected …" for one issue, from its code (zod's default texts say nothing useful in zod/mini). */
function expectation(issue: ValidationIssue): string {
  if (!isDefaultMessage(issue.message)) {
    return issue.message.startsWith('must be ') ? `expected ${issue.message.slice('must be '.length)}` : issue.message;
  }
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${TYPE_NAMES[issue.expected ?? ''] ?? `a ${issue.expected ?? 'valid value'}`}`;
    case 'invalid_value':
      return `expected ${quoted(issue.values ?? [])}`;
    case 'too_small':
      return `expected ${bound(issue, 'least')}`;
    case 'too_big':
      return `expected ${bound(issue, 'most')}`;
    case 'invalid_format':
      return `expected a string in ${issue.format ?? 'the right'} format`;
    case 'unrecognized_keys':
      return `expected no key ${quoted(issue.keys ?? [])}`;
    case 'invalid_union': {
      const alternatives = (issue.errors ?? [])
        .map((branch) => branch.find((inner) => inner.path.length === 0))
        .filter((inner): inner is ValidationIssue => inner !== undefined)
        .map((inner) => expectation(inner).replace(/^expected /, ''));
      return alternatives.length > 0 ? `expected ${[...new Set(alternatives)].join(' or ')}` : 'expected one of the allowed shapes';
    }
    default:
      return 'expected a valid value';
  }
}

/** The value at `path` inside `input` (undefined when the path does not exist there). */
export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * `<where>: expected <what>, got <what came>` for one issue. `input` is what was validated (the value
 * that came is looked up by the issue's path); `where` defaults to the issue's path.
 */
export function describeIssue(issue: ValidationIssue, input: unknown, where = formatIssuePath(issue.path)): string {
  const got = issue.code === 'unrecognized_keys' ? `${quoted(issue.keys ?? [])}` : describeValue(valueAt(input, issue.path));
  return `${where || '(root)'}: ${expectation(issue)}, got ${got}`;
}

/** The first issue of a failed parse, described; a fallback text when there is none. */
export function describeFirstIssue(issues: readonly ValidationIssue[], input: unknown, where?: (path: readonly PropertyKey[]) => string): string {
  const issue = issues[0];
  if (issue === undefined) return `(root): expected a valid value, got ${describeValue(input)}`;
  return describeIssue(issue, input, where ? where(issue.path) : undefined);
}
