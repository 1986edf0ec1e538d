import * as z from 'zod';
import { NotSupported } from '../errors/cpi-errors';

export const createNetworkArgs = z.tuple([z.object({ type: z.string().optional(), cloud_properties: z.unknown() }).loose()]).rest(z.unknown());

/**
 * Garden has no networks to create: containers get an IP from Garden's own pool or the manifest.
 * Answer NotSupported (not a silent success) so a managed-network manifest fails loudly.
 */
export async function createNetwork(_deps: object, [spec]: z.infer<typeof createNetworkArgs>): Promise<never> {
  throw new NotSupported(
    `create_network is not supported by the Garden CPI (network type '${spec.type ?? 'unknown'}'): use manual or dynamic networks`,
  );
}
