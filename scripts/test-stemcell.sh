#!/usr/bin/env bash
# Builds a warden test stemcell with the real BOSH agent for garden-cpi's real-agent and create-env
# tests: Debian (debootstrap --variant=minbase, from Debian's archive) with runit and monit, the
# agent built from the pinned tools module (scripts/real-bosh.sh), the warden agent.json and the
# helper programs the agent runs at boot. Test tooling only; see docs/real-bosh.md.
#
#   scripts/test-stemcell.sh build   build (or reuse) the stemcell and print its directory, which
#                                    holds stemcell.MF, image (gzipped rootfs tar) and stemcell.tgz
#                                    (both packed as a stemcell tarball, what `bosh create-env` takes)
#
# Cached under .cache/test-stemcell/ (scripts/lib/go-build.sh's cached_build): base-<key>/rootfs.tar
# (the debootstrapped rootfs, keyed by suite, package list and recipe) and <key>/ (the stemcell, keyed
# by the base, the agent and monit-csrf-proxy binaries and this script); monit-csrf-proxy is cached
# under .cache/go-programs/ (docs/go-builds.md). Environment: TEST_STEMCELL_CACHE_DIR
# (<repo>/.cache/test-stemcell), TEST_STEMCELL_MIRROR (the host's Debian mirror), TEST_STEMCELL_SUITE
# (the host's suite, e.g. bookworm).
#
# Exit codes: 0 ok; 1 failure; 2 a prerequisite is missing (not root, no Go, debootstrap cannot be
# installed, Debian's archive cannot be reached).
set -euo pipefail
shopt -s inherit_errexit

# Bump when the base rootfs recipe (packages, cleanup) changes.
BASE_RECIPE=2
# Bump when what is added on top of the base changes in a way the script text does not show.
STEMCELL_RECIPE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_BASE="${TEST_STEMCELL_CACHE_DIR:-$ROOT/.cache/test-stemcell}"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

# runit runs the agent (as on Jammy and older warden stemcells); monit supervises jobs; resolvconf is
# what the agent runs to apply the DNS servers of its settings (`resolvconf -u`: it fails to boot
# without it); rsyslog receives the agent's audit log (it retries forever, ten times a second, without
# a syslog socket); the rest are programs the agent runs at boot or for disks (ip, hostname,
# useradd/usermod, mount, mke2fs, tar).
PACKAGES=(runit monit resolvconf rsyslog iproute2 procps netbase ca-certificates e2fsprogs psmisc hostname)

log() { printf 'test-stemcell: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
missing() { log "missing prerequisite: $*"; exit 2; }

# shellcheck source=scripts/lib/go-build.sh
source "$ROOT/scripts/lib/go-build.sh"

host_suite() { sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"'; }
host_mirror() {
  sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1
}
SUITE="${TEST_STEMCELL_SUITE:-$(host_suite)}"
SUITE="${SUITE:-bookworm}"
MIRROR="${TEST_STEMCELL_MIRROR:-$(host_mirror)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

prerequisites() {
  [[ "$(id -u)" == 0 ]] || missing "root (debootstrap and the rootfs's owners need it)"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; } \
      || missing "debootstrap (apt-get install failed)"
  fi
}

base_key() {
  echo "recipe=$BASE_RECIPE suite=$SUITE arch=$(dpkg --print-architecture) packages=${PACKAGES[*]}" | sha256sum | cut -c1-16
}

# build_base DIR: debootstraps the rootfs and packs it as DIR/rootfs.tar (numeric owners)
# (cached_build's builder).
build_base() {
  local work="$1" include
  include=$(IFS=,; echo "${PACKAGES[*]}")
  log "debootstrap --variant=minbase $SUITE from $MIRROR (takes 2-4 minutes)"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    grep -q 'Failed getting release file\|Couldn.t download\|Failure trying to run\|Temporary failure' "$work/debootstrap.log" \
      && missing "Debian's archive ($MIRROR): debootstrap could not download"
    die "debootstrap failed"
  }
  # What a container does not need: package caches, docs, manuals.
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* \
    "$work/rootfs/usr/share/doc/"* "$work/rootfs/usr/share/man/"* "$work/rootfs/usr/share/info/"*
  tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
  rm -rf "$work/rootfs" "$work/debootstrap.log"
}

# Files the warden stemcell adds on top of the base; $1 is the rootfs being built.
add_bosh_files() {
  local r="$1" agent="$2" csrf_proxy="$3"
  install -d -m 0755 "$r/var/vcap/bosh/bin" "$r/var/vcap/bosh/etc" "$r/var/vcap/bosh/log" \
    "$r/var/vcap/monit" "$r/var/vcap/monit/job" "$r/var/vcap/data" "$r/var/vcap/store"
  install -m 0755 "$agent" "$r/var/vcap/bosh/bin/bosh-agent"

  # Settings come from the file the CPI writes (read-only) into the container; persistent disks are
  # already ext4 and arrive as a directory the agent bind-mounts; the agent partitions nothing.
  cat >"$r/var/vcap/bosh/agent.json" <<'JSON'
{
  "Platform": {
    "Linux": {
      "UseDefaultTmpDir": true,
      "UsePreformattedPersistentDisk": true,
      "BindMountPersistentDisk": true,
      "SkipDiskSetup": true
    }
  },
  "Infrastructure": {
    "Settings": {
      "Sources": [
        { "Type": "File", "SettingsPath": "/var/vcap/bosh/warden-cpi-agent-env.json" }
      ],
      "UseRegistry": false
    }
  }
}
JSON

  # Programs the agent runs at boot. In a container the network is preconfigured by Garden, the
  # clock is the host's, and there is no syslog/auditd to start: each is a no-op, as on warden
  # stemcells (restart_networking, sync-time) or as the agent tolerates.
  local noop
  for noop in restart_networking sync-time bosh-agent-rc setup-logrotate.sh; do
    printf '#!/bin/sh\n# No-op in a garden container (see docs/real-bosh.md).\nexit 0\n' >"$r/var/vcap/bosh/bin/$noop"
    chmod 0755 "$r/var/vcap/bosh/bin/$noop"
  done

  # `mount` as the agent reads it: a wrapper first in its PATH that lists the agent's bind mounts with
  # their sources, as the /etc/mtab of older stemcells did; without it a disk migration fails
  # (tools/bosh/stemcell/mount, docs/create-env.md).
  install -m 0755 "$ROOT/tools/bosh/stemcell/mount" "$r/var/vcap/bosh/bin/mount"

  # Logging: rsyslog (a runit service, down until the agent's boot starts it, as stemcells do).
  cat >"$r/var/vcap/bosh/bin/bosh-start-logging-and-auditing" <<'RUN'
#!/bin/sh
# Starts syslog for the agent's audit log; there is no auditd in a container.
exec sv start rsyslog
RUN
  chmod 0755 "$r/var/vcap/bosh/bin/bosh-start-logging-and-auditing"
  # imklog needs the host's kernel log, which a container cannot read.
  sed -i 's/^module(load="imklog"/#&/' "$r/etc/rsyslog.conf"

  # monit with BOSH's configuration: the agent's job supervisor talks to 127.0.0.1:2822 with the
  # credentials it writes to /var/vcap/monit/monit.user; the job files are the ones the agent writes.
  # Debian's monit (5.33; stemcells ship 5.2.5) refuses POSTs without a CSRF token, which the agent never
  # sends: monit listens on 2823 and monit-csrf-proxy (tools/bosh/monit-csrf-proxy, a runit service)
  # on 2822 adds the token (docs/create-env.md).
  cat >"$r/var/vcap/bosh/etc/monitrc" <<'MONIT'
set daemon 10
set logfile /var/vcap/monit/monit.log
set httpd port 2823 and use address 127.0.0.1
  allow cleartext /var/vcap/monit/monit.user
include /var/vcap/monit/*.monitrc
include /var/vcap/monit/job/*.monitrc
MONIT
  chmod 0700 "$r/var/vcap/bosh/etc/monitrc"
  printf '#!/bin/sh\nexec /usr/bin/monit -c /var/vcap/bosh/etc/monitrc "$@"\n' >"$r/var/vcap/bosh/bin/monit"
  chmod 0755 "$r/var/vcap/bosh/bin/monit"

  # runit: /etc/service holds the agent (started at boot) and monit (down until the agent runs
  # `sv start monit`). runsvdir-start is what the CPI execs to boot a runit container.
  rm -f "$r/etc/service"
  install -d -m 0755 "$r/etc/sv/agent/log" "$r/etc/sv/monit" "$r/etc/sv/rsyslog" "$r/etc/sv/monit-csrf-proxy" "$r/etc/service"
  install -m 0755 "$csrf_proxy" "$r/var/vcap/bosh/bin/monit-csrf-proxy"
  cat >"$r/etc/sv/monit-csrf-proxy/run" <<'RUN'
#!/bin/bash
exec 2>&1
exec /var/vcap/bosh/bin/monit-csrf-proxy -listen 127.0.0.1:2822 -monit http://127.0.0.1:2823
RUN
  cat >"$r/etc/sv/agent/run" <<'RUN'
#!/bin/bash
export PATH=/var/vcap/bosh/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec 2>&1
exec /var/vcap/bosh/bin/bosh-agent -P ubuntu -C /var/vcap/bosh/agent.json
RUN
  cat >"$r/etc/sv/agent/log/run" <<'RUN'
#!/bin/bash
mkdir -p /var/vcap/bosh/log
exec svlogd -tt /var/vcap/bosh/log
RUN
  cat >"$r/etc/sv/monit/run" <<'RUN'
#!/bin/bash
exec 2>&1
exec /var/vcap/bosh/bin/monit -I
RUN
  cat >"$r/etc/sv/rsyslog/run" <<'RUN'
#!/bin/bash
exec 2>&1
exec rsyslogd -n -iNONE
RUN
  touch "$r/etc/sv/monit/down" "$r/etc/sv/rsyslog/down"
  chmod 0755 "$r/etc/sv/agent/run" "$r/etc/sv/agent/log/run" "$r/etc/sv/monit/run" "$r/etc/sv/rsyslog/run" "$r/etc/sv/monit-csrf-proxy/run"
  local service
  for service in agent monit rsyslog monit-csrf-proxy; do ln -sfn "/etc/sv/$service" "$r/etc/service/$service"; done
  # runsvdir-start also does what a booting system's resolvconf init script does: without
  # enable-updates, `resolvconf -u` leaves /etc/resolv.conf (the agent's link to its output) dangling.
  cat >"$r/usr/sbin/runsvdir-start" <<'RUN'
#!/bin/sh
mkdir -p /run/resolvconf/interface && touch /run/resolvconf/enable-updates
exec env - PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin runsvdir -P /etc/service
RUN
  chmod 0755 "$r/usr/sbin/runsvdir-start"

  # The users BOSH jobs and the agent expect (the agent chowns its log dir to root:syslog).
  chroot "$r" groupadd -f -r syslog
  chroot "$r" id syslog >/dev/null 2>&1 || chroot "$r" useradd -r -g syslog -s /usr/sbin/nologin -d /nonexistent syslog
  chroot "$r" groupadd -f -r bosh_sshers
  chroot "$r" groupadd -f -r bosh_sudoers
  chroot "$r" groupadd -f vcap
  chroot "$r" id vcap >/dev/null 2>&1 || chroot "$r" useradd -m -g vcap -G bosh_sshers,bosh_sudoers -s /bin/bash vcap
}

cmd_build() {
  prerequisites
  local tools agent csrf_proxy base key
  tools=$(bash "$ROOT/scripts/real-bosh.sh" build) || exit $?
  agent="$tools/bosh-agent"
  csrf_proxy=$(go_program "$ROOT/tools/bosh" ./monit-csrf-proxy)
  base=$(cached_build "$CACHE_BASE" "base-$(base_key)" build_base)
  key=$({
    echo "recipe=$STEMCELL_RECIPE base=$(basename "$base")"
    sha256sum <"$agent"
    sha256sum <"$csrf_proxy"
    cat "${BASH_SOURCE[0]}" "$ROOT/tools/bosh/stemcell/mount"
  } | sha256sum | cut -c1-16)
  cached_build "$CACHE_BASE" "$key" build_stemcell "$CACHE_BASE/$key" "$base/rootfs.tar" "$agent" "$csrf_proxy"
}

# build_stemcell DIR OUT BASE_TAR AGENT CSRF_PROXY: builds the stemcell into DIR, which becomes OUT
# (cached_build's builder).
build_stemcell() {
  local work="$1" out="$2" base_tar="$3" agent="$4" csrf_proxy="$5" started=$SECONDS key
  key=$(basename "$out")
  mkdir -p "$work/rootfs"
  tar --numeric-owner -C "$work/rootfs" -xf "$base_tar"
  add_bosh_files "$work/rootfs" "$agent" "$csrf_proxy"
  log "packing the image"
  tar --numeric-owner -C "$work/rootfs" -czf "$work/image" .
  local sha1 version
  sha1=$(sha1sum "$work/image" | cut -d' ' -f1)
  # A version BOSH accepts that changes with the content, so create-env sees a new stemcell.
  version="0.$((16#${key:0:6}))"
  cat >"$work/stemcell.MF" <<MF
---
name: bosh-warden-boshlite-debian-$SUITE-go_agent-test
version: '$version'
bosh_protocol: 1
api_version: 3
sha1: $sha1
operating_system: debian-$SUITE
stemcell_formats:
- warden-tar
cloud_properties: {}
MF
  tar -C "$work" -czf "$work/stemcell.tgz" stemcell.MF image
  rm -rf "$work/rootfs"
  log "built $out in $((SECONDS - started)) s"
}

case "${1:-}" in
  build) cmd_build ;;
  *) echo "usage: $0 build" >&2; exit 64 ;;
esac
