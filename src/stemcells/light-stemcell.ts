import * as z from 'zod';
import type { StemcellManifest } from './stemcell-manifest';

const LIGHT_FORMATS = ['warden-light', 'docker-light'];

/** Light stemcells carry no rootfs: Garden pulls the image named in cloud_properties. */
export function isLightStemcell(manifest: StemcellManifest | undefined): boolean {
  return (manifest?.stemcell_formats ?? []).some((format) => LIGHT_FORMATS.includes(format));
}

/** The cloud_properties of a light stemcell (stemcell.MF `cloud_properties`, passed by the Director). */
export const lightStemcellPropertiesSchema = z.looseObject({
  image_reference: z
    .string()
    .min(1, 'must not be empty')
    // Upstream's rule: the reference is appended to docker://, so it must not escape or be relative.
    .refine((value) => !value.includes('..') && !/^[/:@]/.test(value), {
      message: "must not contain '..' or start with '/', ':' or '@'",
    })
    .refine((value) => !/[\s\0]/.test(value), { message: 'must not contain whitespace' }),
  digest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lowercase hex digits>')
    .optional(),
});
export type LightStemcellProperties = z.infer<typeof lightStemcellPropertiesSchema>;

/** Garden's image URI for a light stemcell, as upstream builds it. */
export function dockerUri(imageReference: string): string {
  return `docker://${imageReference}`;
}
