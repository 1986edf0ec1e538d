/**
 * JSON.parse without echoing the input. V8's SyntaxError quotes part of the text ("Unexpected token
 * 'B', ..."cess_key":BLOBSTORE-"..."), and config files, agent settings and requests hold passwords; so a
 * failure is reported by its position only ("line 3, column 22"), found by a small validator of our own.
 * No imports: src/rpc uses this on every call.
 */
export type JsonText = { ok: true; value: unknown } | { ok: false; where: string };

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * The offset of the first character that makes `text` invalid JSON (text.length when it ends too early),
 * or -1 when it is valid. Iterative, so deep nesting cannot overflow the stack.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const stack: ('o' | 'a')[] = [];
  const skip = () => {
    while (i < n && WHITESPACE.has(text[i] ?? '')) i += 1;
  };
  const fail = (at: number): never => {
    throw at;
  };
  const string = () => {
    i += 1; // opening quote
    for (;;) {
      if (i >= n) fail(n);
      const c = text[i] ?? '';
      if (c === '"') {
        i += 1;
        return;
      }
      if (c === '\\') {
        const next = text[i + 1] ?? '';
        if (ESCAPES.has(next)) i += 2;
        else if (next === 'u' && HEX4.test(text.slice(i + 2, i + 6))) i += 6;
        else fail(Math.min(i + 1, n));
      } else if (c.charCodeAt(0) < 0x20) fail(i);
      else i += 1;
    }
  };
  try {
    let state: 'value' | 'key' | 'after' = 'value';
    for (;;) {
      skip();
      if (state === 'value') {
        if (i >= n) fail(n);
        const c = text[i];
        if (c === '{' || c === '[') {
          i += 1;
          skip();
          if (text[i] === (c === '{' ? '}' : ']')) {
            i += 1;
            state = 'after';
          } else {
            stack.push(c === '{' ? 'o' : 'a');
            state = c === '{' ? 'key' : 'value';
          }
        } else if (c === '"') {
          string();
          state = 'after';
        } else if (c === 't' || c === 'f' || c === 'n') {
          const word = c === 't' ? 'true' : c === 'f' ? 'false' : 'null';
          for (let k = 0; k < word.length; k += 1) if (text[i + k] !== word[k]) fail(Math.min(i + k, n));
          i += word.length;
          state = 'after';
        } else {
          NUMBER.lastIndex = i;
          const match = NUMBER.exec(text);
          if (!match || match[0].length === 0) fail(c === '-' ? Math.min(i + 1, n) : i);
          i += match?.[0].length ?? 0;
          state = 'after';
        }
      } else if (state === 'key') {
        if (text[i] !== '"') fail(Math.min(i, n));
        string();
        skip();
        if (text[i] !== ':') fail(Math.min(i, n));
        i += 1;
        state = 'value';
      } else {
        const top = stack[stack.length - 1];
        if (top === undefined) return i < n ? i : -1;
        const c = text[i];
        if (c === ',') {
          i += 1;
          state = top === 'o' ? 'key' : 'value';
        } else if ((top === 'o' && c === '}') || (top === 'a' && c === ']')) {
          stack.pop();
          i += 1;
        } else {
          fail(Math.min(i, n));
        }
      }
    }
  } catch (offset) {
    if (typeof offset === 'number') return offset;
    throw offset;
  }
}

/** "line L, column C" (both from 1; columns count UTF-16 units) of an offset in `text`. */
export function lineAndColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let index = text.indexOf('\n'); index >= 0 && index < offset; index = text.indexOf('\n', index + 1)) {
    line += 1;
    lineStart = index + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/** Parses `text`; on failure says only where ("at line 3, column 22", or "at the end") , never what. */
export function parseJsonText(text: string): JsonText {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    const offset = jsonErrorOffset(text);
    if (offset < 0) return { ok: false, where: 'at an unknown position' };
    return { ok: false, where: offset >= text.length ? `at the end (${lineAndColumn(text, offset)})` : `at ${lineAndColumn(text, offset)}` };
  }
}
