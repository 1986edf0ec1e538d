import * as z from 'zod';
import { NotSupported } from '../errors/cpi-errors';

export const deleteNetworkArgs = z.tuple([z.string()]).rest(z.unknown());

/** The counterpart of create_network: no network this CPI could have made exists. */
export async function deleteNetwork(_deps: object, [networkCid]: z.infer<typeof deleteNetworkArgs>): Promise<never> {
  throw new NotSupported(`delete_network is not supported by the Garden CPI (network '${networkCid.slice(0, 100)}')`);
}
