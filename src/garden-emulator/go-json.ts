/**
 * JSON exactly as Go's `json.NewEncoder(w).Encode(v)` writes it: HTML-unsafe characters escaped
 * (`<` `>` `&` as \u003c \u003e \u0026), U+2028/U+2029 escaped, control characters other than \n \r \t as
 * \u00XX, and a trailing newline. Object keys keep their insertion order; Go sorts map keys, so callers
 * build maps with `sortedMap`.
 */
export function goJsonLine(value: unknown): string {
  return `${encode(value)}\n`;
}

/** A Go `map[string]V` as JSON sees it: keys sorted bytewise. */
export function sortedMap<V>(entries: Iterable<[string, V]>): Record<string, V> {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(sorted);
}

function encode(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return encodeString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(encode).join(',')}]`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, field]) => field !== undefined)
      .map(([key, field]) => `${encodeString(key)}:${encode(field)}`);
    return `{${fields.join(',')}}`;
  }
  return 'null';
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function encodeString(text: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/["\\\u0000-\u001f<>&\u2028\u2029]/g, (char) => {
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) return short;
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `"${escaped}"`;
}
