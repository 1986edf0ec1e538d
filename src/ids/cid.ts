/**
 * The one rule for every cid the CPI takes or makes (stemcell, VM, disk, snapshot): a cid is an id,
 * used as one path component and one Garden URL segment. It is 1 to 255 characters of ASCII letters,
 * digits, `.`, `_` and `-`, and does not start with `.` (so never `.` or `..`, and never one of the
 * hidden names the CPI keeps beside the cids, such as stemcells_dir's `.data-…` and `.import-…`).
 * Everything else (`/`, `?`, `#`, `%`, spaces, NUL, non-ASCII) is refused before any work is done.
 * UUIDs, which both this CPI and the upstream one make, pass.
 */
const CID = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
export const MAX_CID_LENGTH = 255;

/** What is wrong with `value` as a cid, or undefined when it is one. */
export function cidProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_CID_LENGTH) return `must be at most ${MAX_CID_LENGTH} characters, got ${value.length}`;
  if (!CID.test(value)) {
    return "must be an id: ASCII letters, digits, '.', '_' and '-' only, not starting with '.'";
  }
  return undefined;
}

export function isCid(value: string): boolean {
  return cidProblem(value) === undefined;
}
