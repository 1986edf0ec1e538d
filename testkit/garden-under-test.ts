/**
 * Which Garden the lifecycle suites drive. `scripts/test.mjs` runs those suites twice: against the
 * embedded emulator, then (when `scripts/real-garden.sh` could build and start gdn) against a real gdn,
 * with GARDEN_UNDER_TEST=real and GARDEN_REAL_ADDRESS=host:port (docs/real-garden.md).
 */
export type GardenUnderTest = { kind: 'emulator' } | { kind: 'real'; network: 'tcp' | 'unix'; address: string };

export function gardenUnderTest(): GardenUnderTest {
  if (process.env.GARDEN_UNDER_TEST !== 'real') return { kind: 'emulator' };
  const address = process.env.GARDEN_REAL_ADDRESS ?? '';
  if (address === '') throw new Error('GARDEN_UNDER_TEST=real needs GARDEN_REAL_ADDRESS (host:port or a socket path)');
  return { kind: 'real', network: address.startsWith('/') ? 'unix' : 'tcp', address };
}

/** ' (real gdn)' or ' (emulator)': suite names say which Garden they ran against. */
export function gardenLabel(garden: GardenUnderTest = gardenUnderTest()): string {
  return garden.kind === 'real' ? ' (real gdn)' : ' (emulator)';
}
