import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// Folders depend downward only: each src/ folder may import the folders docs/layout.md lists for it, and
// nothing else. Adding an arrow is a design change: change docs/layout.md and this table together.
const SRC = join(__dirname, '..', 'src');

const MAY_IMPORT: Record<string, readonly string[]> = {
  errors: [],
  ids: ['errors'],
  log: [],
  config: ['errors'],
  host: ['errors', 'log'],
  garden: ['errors', 'log'],
  'garden-emulator': ['errors', 'log'],
  stemcells: ['errors', 'ids', 'log', 'host'],
  disks: ['errors', 'ids', 'log', 'host', 'config'],
  vms: ['errors', 'ids', 'log', 'host', 'config', 'garden', 'stemcells'],
  actions: ['errors', 'ids', 'log', 'host', 'config', 'garden', 'stemcells', 'disks', 'vms'],
  wiring: ['errors', 'ids', 'log', 'host', 'config', 'garden', 'stemcells', 'disks', 'vms', 'actions'],
  rpc: ['errors', 'log', 'config', 'actions', 'wiring'],
  '.': ['rpc'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'warden_cpi' ? [] : sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The src/ folders a file imports (static, type-only, dynamic and require), by relative specifier. */
function importedFolders(file: string, text = readFileSync(file, 'utf8')): string[] {
  const folders = new Set<string>();
  for (const match of text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(SRC, join(file, '..', match[1] ?? ''));
    const folder = target.includes('/') ? (target.split('/')[0] ?? '') : '.';
    folders.add(folder);
  }
  return [...folders];
}

/** The imports of `file` (its text read from disk unless given) that MAY_IMPORT does not allow. */
function wrongImports(file: string, text?: string): string[] {
  const rel = relative(SRC, file);
  const own = rel.includes('/') ? (rel.split('/')[0] ?? '') : '.';
  const allowed = MAY_IMPORT[own];
  assert.ok(allowed !== undefined, `src/${own}/ is not in docs/layout.md`);
  return importedFolders(file, text)
    .filter((folder) => folder !== own && !allowed.includes(folder))
    .map((folder) => `src/${rel} imports src/${folder}/`);
}

describe('src/ layout', () => {
  it('every folder imports only the folders below it (docs/layout.md)', () => {
    assert.deepEqual(
      sourceFiles(SRC).flatMap((file) => wrongImports(file)),
      [],
    );
  });

  it('the checker sees an upward import, of every kind', () => {
    const file = join(SRC, 'log', 'stderr-logger.ts');
    assert.deepEqual(wrongImports(file, "import { x } from '../rpc/run-cpi';"), ['src/log/stderr-logger.ts imports src/rpc/']);
    assert.deepEqual(wrongImports(file, "import type { X } from '../wiring/methods-entry';"), ['src/log/stderr-logger.ts imports src/wiring/']);
    assert.deepEqual(wrongImports(file, "const m = await import('../actions/info');"), ['src/log/stderr-logger.ts imports src/actions/']);
    assert.deepEqual(wrongImports(file, "require('../vms/vm-finder')"), ['src/log/stderr-logger.ts imports src/vms/']);
    assert.deepEqual(wrongImports(file, "import { y } from './printable';"), []);
  });
});
