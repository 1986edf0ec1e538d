import * as z from 'zod';
import { InvalidRequest } from '../errors/cpi-errors';
import { cidProblem } from './cid';

/**
 * A stemcell, VM, disk or snapshot cid: the one rule of ./cid.ts (letters, digits, '.', '_', '-'; not
 * starting with '.'), checked before anything else happens. Every cid passes it before it touches a path
 * or a Garden URL.
 */
export const plainId = z.string().superRefine((value, context) => {
  const problem = cidProblem(value);
  // What came is added by the validation wording (src/errors/validation-message.ts).
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

/** Throws InvalidRequest unless `cid` is a cid (callers validate too; this is the last guard before a path). */
export function assertPlainId(kind: string, cid: string): string {
  const problem = cidProblem(cid);
  if (problem !== undefined) throw new InvalidRequest(`Invalid ${kind} cid ${JSON.stringify(cid.slice(0, 100))}: ${problem}`);
  return cid;
}
