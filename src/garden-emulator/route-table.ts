/** pat-style route patterns (G `routes/routes.go`): `:name` matches one non-empty path segment. */
export type RouteName =
  | 'ping'
  | 'capacity'
  | 'list'
  | 'create'
  | 'bulkInfo'
  | 'bulkMetrics'
  | 'info'
  | 'destroy'
  | 'stop'
  | 'streamIn'
  | 'streamOut'
  | 'bandwidthLimits'
  | 'cpuLimits'
  | 'diskLimits'
  | 'memoryLimits'
  | 'netIn'
  | 'netOut'
  | 'bulkNetOut'
  | 'run'
  | 'attach'
  | 'attachStdout'
  | 'attachStderr'
  | 'graceTime'
  | 'properties'
  | 'getProperty'
  | 'setProperty'
  | 'removeProperty'
  | 'metrics';

const ROUTES: [RouteName, string, string][] = [
  ['ping', 'GET', '/ping'],
  ['capacity', 'GET', '/capacity'],
  ['list', 'GET', '/containers'],
  ['create', 'POST', '/containers'],
  ['bulkInfo', 'GET', '/containers/bulk_info'],
  ['bulkMetrics', 'GET', '/containers/bulk_metrics'],
  ['info', 'GET', '/containers/:handle/info'],
  ['destroy', 'DELETE', '/containers/:handle'],
  ['stop', 'PUT', '/containers/:handle/stop'],
  ['streamIn', 'PUT', '/containers/:handle/files'],
  ['streamOut', 'GET', '/containers/:handle/files'],
  ['bandwidthLimits', 'GET', '/containers/:handle/limits/bandwidth'],
  ['cpuLimits', 'GET', '/containers/:handle/limits/cpu'],
  ['diskLimits', 'GET', '/containers/:handle/limits/disk'],
  ['memoryLimits', 'GET', '/containers/:handle/limits/memory'],
  ['netIn', 'POST', '/containers/:handle/net/in'],
  ['netOut', 'POST', '/containers/:handle/net/out'],
  ['bulkNetOut', 'POST', '/containers/:handle/net/out/bulk'],
  ['run', 'POST', '/containers/:handle/processes'],
  ['attach', 'GET', '/containers/:handle/processes/:pid'],
  ['attachStdout', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stdout'],
  ['attachStderr', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stderr'],
  ['graceTime', 'PUT', '/containers/:handle/grace_time'],
  ['properties', 'GET', '/containers/:handle/properties'],
  ['getProperty', 'GET', '/containers/:handle/properties/:key'],
  ['setProperty', 'PUT', '/containers/:handle/properties/:key'],
  ['removeProperty', 'DELETE', '/containers/:handle/properties/:key'],
  ['metrics', 'GET', '/containers/:handle/metrics'],
];

/** Matches `path` against a pat pattern, returning its params. */
export function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i += 1) {
    const expected = want[i] ?? '';
    const actual = got[i] ?? '';
    if (expected.startsWith(':')) {
      if (actual === '') return undefined;
      params[expected.slice(1)] = decodeURIComponent(actual);
    } else if (expected !== actual) return undefined;
  }
  return params;
}

export type RouteMatch =
  { kind: 'route'; name: RouteName; params: Record<string, string> } | { kind: 'notFound' } | { kind: 'methodNotAllowed'; allow: string[] };

/** Method + path to a route; pat answers 405 (with Allow) when only the method is wrong, 404 otherwise. */
export function matchRoute(method: string, path: string): RouteMatch {
  const allow: string[] = [];
  for (const [name, routeMethod, pattern] of ROUTES) {
    const params = matchPattern(pattern, path);
    if (params === undefined) continue;
    // pat lets HEAD through to GET routes.
    if (routeMethod === method || (method === 'HEAD' && routeMethod === 'GET')) return { kind: 'route', name, params };
    if (!allow.includes(routeMethod)) allow.push(routeMethod);
  }
  return allow.length > 0 ? { kind: 'methodNotAllowed', allow } : { kind: 'notFound' };
}
