/**
 * create_vm's `networks` argument as the Director sends it for one manual network: `ip` in a /24, the
 * gateway at `.1` of that /24, default for dns and gateway, Google's DNS.
 */
export function manualNetworks(ip: string) {
  return {
    default: {
      type: 'manual',
      ip,
      netmask: '255.255.255.0',
      gateway: `${ip.split('.').slice(0, 3).join('.')}.1`,
      dns: ['8.8.8.8'],
      default: ['dns', 'gateway'],
      cloud_properties: {},
    },
  };
}
