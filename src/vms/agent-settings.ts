import * as z from 'zod';
import type { CpiConfig } from '../config/cpi-config';
import type { Networks } from './networks';

/**
 * The agent's settings file (bosh-agent settings.Settings, read through its File source). Only the keys
 * the CPI changes later are typed; anything else written by another CPI version is kept as is.
 */
export const agentSettingsSchema = z.looseObject({
  agent_id: z.string().min(1),
  vm: z.looseObject({ name: z.string() }),
  mbus: z.string(),
  ntp: z.array(z.string()).nullable().optional(),
  blobstore: z.looseObject({ provider: z.string(), options: z.record(z.string(), z.unknown()).optional() }).optional(),
  networks: z.record(z.string(), z.unknown()),
  disks: z.looseObject({
    // The agent unmarshals `system` into a Go string: it must never be an object.
    system: z.string().optional(),
    ephemeral: z.unknown().optional(),
    persistent: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
  env: z.unknown().optional(),
});

export type AgentSettings = z.infer<typeof agentSettingsSchema>;

export interface AgentSettingsInput {
  agentId: string;
  vmCid: string;
  agent: CpiConfig['agent'];
  /** Networks with DNS already backfilled. */
  networks: Networks;
  /** create_vm's `env`, copied verbatim. */
  env: unknown;
  /** The guest ephemeral path (`/var/vcap/data`). */
  ephemeralPath: string;
}

/** The networks as the agent gets them: the container's network is configured by Garden, so the agent must not touch it. */
export function preconfiguredNetworks(networks: Networks): Record<string, unknown> {
  return Object.fromEntries(Object.entries(networks).map(([name, network]) => [name, { ...network, preconfigured: true }]));
}

/** Upstream's AgentEnvFactory.ForVM + AttachSystemDisk(""), plus the blobstore when one is configured. */
export function buildAgentSettings(input: AgentSettingsInput): AgentSettings {
  const networks = preconfiguredNetworks(input.networks);
  const { blobstore } = input.agent;
  return {
    agent_id: input.agentId,
    vm: { name: input.vmCid, id: input.vmCid },
    mbus: input.agent.mbus,
    ntp: [...input.agent.ntp],
    ...(blobstore ? { blobstore: { provider: blobstore.provider, options: blobstore.options } } : {}),
    networks,
    disks: { system: '', ephemeral: input.ephemeralPath, persistent: {} },
    env: input.env ?? {},
  };
}
