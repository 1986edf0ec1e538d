/** The longest request id kept, in characters; the Director's are like "cpi-123456" (10). */
export const MAX_REQUEST_ID_LENGTH = 100;

// C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: anything a terminal or a
// log reader may take as a line break or a control sequence.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` safe to put on one log line: control characters escaped JSON-style (`\n`, `\u001b`), then cut
 * to `max` characters with a trailing '…'. Nothing from a request can then forge or colour log lines.
 */
export function printable(text: string, max = Number.POSITIVE_INFINITY): string {
  const escaped = text.replace(CONTROL, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}
