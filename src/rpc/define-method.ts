import type { z } from 'zod';
import type { CallContext } from '../actions/call-context';
import { InvalidRequest } from '../errors/cpi-errors';
import { formatIssuePath } from '../config/cpi-config';

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
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `arguments${formatIssuePath(issue.path)}` : 'arguments';
      throw new InvalidRequest(`Invalid arguments for '${name}': ${where}: ${issue?.message ?? 'invalid'}`);
    }
    return run(parsed.data, call);
  };
}
