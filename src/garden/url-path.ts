/**
 * One URL path segment (a handle, property key, process id or stream id): every character outside
 * RFC 3986's unreserved set is percent-encoded, so a value such as `vm?x=1` or `vm#` can never reach
 * another route or container. gdn decodes segments before routing; an id made only of unreserved
 * characters is sent unchanged. Throws for '', '.' and '..', which no encoding keeps from being
 * collapsed by URL resolution (WHATWG URLs treat `%2E%2E` as `..`).
 */
export function pathSegment(value: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new Error(`Refusing ${JSON.stringify(value)} as a Garden URL path segment`);
  }
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
