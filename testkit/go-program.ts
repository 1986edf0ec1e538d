import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const REPO_DIR = resolve(__dirname, '..');
const SCRIPT = resolve(REPO_DIR, 'scripts', 'go-program.sh');

/** A built Go program (`binary`, an absolute path), or the prerequisite that is missing to build it. */
export type GoProgram = { binary: string } | { missing: string };

/**
 * Builds the main package `pkg` (a path in the module: './monit-csrf-proxy', or '.' for the module
 * itself) of the Go module at `moduleDir` (relative to the repository, e.g. 'tools/bosh') with
 * `scripts/go-program.sh build`, so that the scripts and the TypeScript callers share one build and cache
 * rule (scripts/lib/go-build.sh, docs/go-builds.md): static, stripped, cached by content under
 * `.cache/go-programs/<name>/<key>/`. Resolves to `{ missing }` (what the script named) when it exits 2,
 * i.e. Go is not installed; rejects with the script's stderr on any other failure.
 */
export function goProgram(moduleDir: string, pkg: string): Promise<GoProgram> {
  return new Promise((done, fail) => {
    execFile('bash', [SCRIPT, 'build', resolve(REPO_DIR, moduleDir), pkg], { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) return done({ binary: stdout.trim() });
      const missing = /missing prerequisite: (.*)/.exec(stderr)?.[1];
      if (error.code === 2 && missing !== undefined) return done({ missing });
      fail(new Error(`scripts/go-program.sh build ${moduleDir} ${pkg} failed (exit ${String(error.code)}):\n${stderr.trim()}`));
    });
  });
}
