import type { z } from 'zod';
import type { CallContext } from './call-context';
import { InvalidRequest } from '../errors/cpi-errors';
import { describeFirstIssue, formatIssuePath, type ValidationIssue } from '../errors/validation-message';

/** A CPI method bound to its deps: raw JSON arguments in, JSON-able result out; `method` is its name. */
export interface MethodHandler {
  (args: unknown[], call: CallContext, method: string): Promise<unknown>;
  /** Its result shape differs between CPI API v1 and v2 (create_vm, attach_disk): a newer version is refused. */
  versioned?: boolean;
}

/**
 * Binds an argument schema (a zod tuple, tolerant of extra trailing arguments via `.rest`) to an
 * action, so every method validates its arguments the same way and names the bad field.
 */
export function defineMethod<Schema extends z.ZodType>(
  schema: Schema,
  run: (args: z.infer<Schema>, call: CallContext) => Promise<unknown>,
  options: { versioned?: boolean } = {},
): MethodHandler {
  const handler: MethodHandler = async (args, call, method) => {
    const parsed = schema.safeParse(args);
    if (!parsed.success) {
      const issues = parsed.error.issues as readonly ValidationIssue[];
      throw new InvalidRequest(
        `Invalid arguments for '${method}': ${describeFirstIssue(issues, args, (path) => formatIssuePath(path, 'arguments'))}`,
      );
    }
    return run(parsed.data, call);
  };
  handler.versioned = options.versioned ?? false;
  return handler;
}
