import type * as Axios from 'axios';

/** The web globals axios reads while it loads: its FormData check, and its fetch adapter's probe (fetch, Request, Response, ReadableStream). */
const WEB_GLOBALS = ['fetch', 'Request', 'Response', 'FormData', 'ReadableStream'] as const;

/**
 * axios, loaded without waking Node's fetch implementation. In Node 20 each of WEB_GLOBALS is a lazy getter
 * that loads undici or the web streams (undici is about 2 MB of JavaScript: 25-60 ms of CPU on this 2-core machine, a sixth of a Garden
 * call's start-up, measured with `node --cpu-prof`) the first time anything reads it, and axios reads them
 * while it loads, to probe its fetch adapter and to recognise FormData. The CPI talks to Garden with axios's
 * http adapter (json-transport.ts sets it) and never sends a form, so the globals are hidden for the length
 * of the synchronous require, and then put back as they were (still lazy) for any other code.
 */
export function loadAxios(): typeof Axios {
  const saved = WEB_GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const);
  for (const [name, descriptor] of saved) {
    if (descriptor?.configurable === true) Object.defineProperty(globalThis, name, { value: undefined, configurable: true, writable: true });
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous by design: nothing else runs while the globals are hidden
    return require('axios') as typeof Axios;
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor?.configurable === true) Object.defineProperty(globalThis, name, descriptor);
    }
  }
}
