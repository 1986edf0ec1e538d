import type { z } from 'zod';
import type { CallContext } from '../actions/call-context';
import { InvalidRequest } from '../errors/cpi-errors';
import { describeFirstIssue, formatIssuePath, type ValidationIssue } from '../errors/validation-message';

/** A CPI method bound to its deps: raw JSON arguments in, JSON-able result out. */
export type MethodHandler = (args: unknown[], call: CallContext) => Promise<unknown>;

/**
 * Binds an argument schema (a zod tuple, tolerant of extra trailing arguments via `.rest`) to an
 * action, so every method validates its arguments the same way and names the bad field.
 */
export function defineMethod<Schema extends z.ZodType>(
  name: string,
  schema: Schema,
  run: (args: z.infer<Schema>, call: CallContext) => Promise<unknown>,
): MethodHandler {
  return async (args, call) => {
    const parsed = schema.safeParse(args);
    if (!parsed.success) {
      const issues = parsed.error.issues as readonly ValidationIssue[];
      throw new InvalidRequest(`Invalid arguments for '${name}': ${describeFirstIssue(issues, args, (path) => formatIssuePath(path, 'arguments'))}`);
    }
    return run(parsed.data, call);
  };
}
