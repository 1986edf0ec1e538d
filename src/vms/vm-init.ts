import type { InitSystem } from '../stemcells/stemcell-init';

/**
 * Per VM: what the stemcell store read off the stemcell (its operating_system, else the unpacked rootfs);
 * only when that says nothing, upstream's global `start_containers_with_systemd`.
 */
export function chooseInitSystem(stemcell: { init?: InitSystem }, startContainersWithSystemd: boolean): InitSystem {
  return stemcell.init ?? (startContainersWithSystemd ? 'systemd' : 'runit');
}
