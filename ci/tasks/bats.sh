#!/usr/bin/env bash
# BATS against a BOSH Lite built with this release, inside one privileged container (bosh/warden-cpi image):
#   Garden (garden-cpi's init wrapper as init-bin) -> bosh create-env with garden-cpi as the CPI
#   -> the Director container, whose colocated warden_cpi job is garden-cpi too -> BATS VMs.
# Mirrors cloudfoundry/bosh's ci/dockerfiles/warden-cpi/start-bosh.sh and upstream's ci/tasks/bats.sh.
set -euo pipefail
[ -n "${DEBUG:-}" ] && set -x

root="$PWD"
release_tarball="$(ls "${root}"/garden-cpi-dev-release/garden-cpi-*.tgz)"
stemcell_tarball="$(ls "${root}"/stemcell/*.tgz)"
bosh_deployment=/usr/local/bosh-deployment
state_dir=/tmp/local-bosh/director
director_ip=192.168.56.6
mkdir -p "${state_dir}"

# 1. Garden. What the warden_cpi job's pre-start does on a Director: garden-cpi's init wrapper as init-bin,
# so the Director container (Noble: systemd) and any runit container can share this Garden.
wrapper=/var/vcap/data/garden/bin/garden-cpi-init
mkdir -p "$(dirname "${wrapper}")"
echo '{"properties":{}}' |
  ruby garden-cpi/spec/release/render-template.rb garden-cpi/jobs/warden_cpi garden-init.erb - >"${wrapper}"
chmod 0755 "${wrapper}"
sed -i -E "s|^([[:space:]]*init-bin[[:space:]]*=).*|\1 ${wrapper}|" /var/vcap/jobs/garden/config/config.ini

/var/vcap/jobs/garden/bin/pre-start
/var/vcap/jobs/garden/bin/garden_ctl start &
/var/vcap/jobs/garden/bin/post-start

# 2. The Director: bosh-deployment's BOSH Lite (bosh-lite.yml) created by create-env into this Garden
# (warden/cpi.yml), both CPIs swapped for garden-cpi.
bosh int "${bosh_deployment}/bosh.yml" \
  -o "${bosh_deployment}/bosh-lite.yml" \
  -o "${bosh_deployment}/warden/cpi.yml" \
  -o "${bosh_deployment}/uaa.yml" \
  -o "${bosh_deployment}/credhub.yml" \
  -o "${bosh_deployment}/jumpbox-user.yml" \
  -o /usr/local/releases/local-releases.yml \
  -o garden-cpi/manifests/use-garden-cpi.yml \
  -o garden-cpi/manifests/use-garden-cpi-create-env.yml \
  -v director_name=bosh-lite \
  -v internal_ip="${director_ip}" \
  -v internal_gw=192.168.56.1 \
  -v internal_cidr=192.168.56.0/24 \
  -v outbound_network_name=NatNetwork \
  -v garden_host=127.0.0.1 \
  -v garden_cpi_release_tarball="${release_tarball}" \
  >"${state_dir}/bosh-director.yml"

teardown() {
  set +e
  # Loop devices and mounts are kernel-wide: leave none behind on the worker.
  bosh -n delete-deployment -d bat --force >/dev/null 2>&1
  bosh -n clean-up --all >/dev/null 2>&1
  bosh -n delete-env "${state_dir}/bosh-director.yml" \
    --vars-store="${state_dir}/creds.yml" --state="${state_dir}/state.json"
}
trap teardown EXIT

bosh -n create-env "${state_dir}/bosh-director.yml" \
  --vars-store="${state_dir}/creds.yml" \
  --state="${state_dir}/state.json"

bosh int "${state_dir}/creds.yml" --path /director_ssl/ca >"${state_dir}/ca.crt"
export BOSH_ENVIRONMENT="${director_ip}"
export BOSH_CLIENT=admin
BOSH_CLIENT_SECRET="$(bosh int "${state_dir}/creds.yml" --path /admin_password)"
export BOSH_CLIENT_SECRET
export BOSH_CA_CERT="${state_dir}/ca.crt"

bosh -n update-cloud-config "${bosh_deployment}/warden/cloud-config.yml"
ip route add 10.244.0.0/15 via "${director_ip}"

# 3. BATS.
ssh_key="${state_dir}/bats_id_rsa"
ssh-keygen -q -t rsa -N "" -f "${ssh_key}"
cat >"${state_dir}/bats.yml" <<BATS_SPEC
---
cpi: warden
properties:
  instances: 1
  ssh_key_pair:
    public_key: "$(cat "${ssh_key}.pub")"
    private_key: "$(sed 's/$/\\n/' "${ssh_key}" | tr -d '\n')"
  stemcell:
    name: ${STEMCELL_NAME}
    version: latest
  persistent_disk: 1024
  networks:
  - name: default
    type: manual
    static_ip: 10.244.0.34
  second_static_ip: 10.244.0.35
BATS_SPEC

export BAT_STEMCELL="${stemcell_tarball}"
export BAT_DEPLOYMENT_SPEC="${state_dir}/bats.yml"
BAT_BOSH_CLI="$(command -v bosh)"
export BAT_BOSH_CLI
export BAT_DNS_HOST="${director_ip}"
export BAT_INFRASTRUCTURE=warden
export BAT_NETWORKING=manual
export BAT_PRIVATE_KEY="${ssh_key}"

cd bosh-acceptance-tests
gem install --no-document bundler
bundle install
# shellcheck disable=SC2086 # BAT_RSPEC_TAGS is a list of flags
bundle exec rspec spec ${BAT_RSPEC_TAGS}
