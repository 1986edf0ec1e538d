import { matchPattern } from './route-table';

/** A fault for requests matching method (any if absent) and path (exact, pat pattern like `/containers/:handle`, or RegExp). */
export interface FaultSpec {
  method?: string;
  path: string | RegExp;
  /** Answer with this status (default 500 when errorType or message is given). */
  status?: number;
  errorType?: string;
  message?: string;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Wait this long first (alone: then handle the request normally). */
  delayMs?: number;
  /** How many matching requests it applies to (default: every one until clearFaults). */
  times?: number;
}

export class FaultInjector {
  private faults: { spec: FaultSpec; remaining: number }[] = [];

  add(spec: FaultSpec): void {
    this.faults.push({ spec, remaining: spec.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.faults = [];
  }

  /** The first live fault matching the request, consuming one of its uses. */
  take(method: string, path: string): FaultSpec | undefined {
    const found = this.faults.find(({ spec, remaining }) => remaining > 0 && matches(spec, method, path));
    if (found === undefined) return undefined;
    found.remaining -= 1;
    return found.spec;
  }
}

function matches(spec: FaultSpec, method: string, path: string): boolean {
  if (spec.method !== undefined && spec.method.toUpperCase() !== method) return false;
  if (spec.path instanceof RegExp) return spec.path.test(path);
  return spec.path.includes('/:') ? matchPattern(spec.path, path) !== undefined : spec.path === path;
}
