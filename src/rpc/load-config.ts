import { readFileSync } from 'node:fs';
import { InvalidRequest } from '../errors/cpi-errors';
import { type CpiConfig, parseCpiConfig } from '../config/cpi-config';
import { parseJsonText } from '../errors/json-text';

/**
 * The config path is the first argument (our job template), or `-configPath=<path>` as the upstream
 * job template passes it, so this binary can stand in for the Go one.
 */
export function configPathFrom(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const flag = /^--?configPath(?:=(.*))?$/.exec(arg);
    if (flag) return flag[1] ?? argv[i + 1];
    if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

export function loadConfig(argv: readonly string[]): CpiConfig {
  const path = configPathFrom(argv);
  if (path === undefined || path === '') {
    throw new InvalidRequest('Invalid CPI config: no config path given (usage: cpi <path to cpi.json>)');
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidRequest(`Invalid CPI config '${path}': cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  // Never echo the text: cpi.json holds the mbus and blobstore passwords.
  const json = parseJsonText(text);
  if (!json.ok) throw new InvalidRequest(`Invalid CPI config '${path}': not valid JSON (${json.where})`);
  try {
    return parseCpiConfig(json.value);
  } catch (error) {
    throw new InvalidRequest(`Invalid CPI config '${path}': ${(error as Error).message}`);
  }
}
