import * as z from 'zod/mini';

export const infoArgs = z.array(z.unknown());

/** Formats this CPI imports: the same list as the upstream warden CPI, so stemcell uploads match. */
export const STEMCELL_FORMATS = ['warden-tar', 'general-tar', 'docker-light', 'warden-light'] as const;

export interface InfoResult {
  api_version: 2;
  stemcell_formats: string[];
}

/** `info` is called before nearly every other call: no config beyond parsing, no Garden, no filesystem. */
export function info(): InfoResult {
  return { api_version: 2, stemcell_formats: [...STEMCELL_FORMATS] };
}
