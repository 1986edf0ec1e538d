#!/usr/bin/env bash
# Builds, starts and stops a real Garden server (gdn) for garden-cpi's tests; test tooling only,
# nothing here is part of the BOSH release. See docs/real-garden.md.
#
#   scripts/real-garden.sh build   build gdn, dadoo, init, nstar, a static GNU tar and the
#                                  capability-filtering runc wrapper into .cache/real-garden/<key>/
#   scripts/real-garden.sh start   build if needed, run `gdn setup` when needed, start `gdn server`
#                                  on 127.0.0.1:$GARDEN_PORT and wait for /ping (idempotent)
#   scripts/real-garden.sh stop    stop gdn and remove every container, process, iptables chain,
#                                  interface, mount and cgroup it made; exit 1 naming what stayed
#   scripts/real-garden.sh env     print GARDEN_ADDRESS=... lines for the tests (eval-safe)
#   scripts/real-garden.sh status  exit 0 when the server answers /ping, 1 otherwise
#   scripts/real-garden.sh smoke   against a started server: create a privileged container on a
#                                  busybox raw:// rootfs, run a process, stream a file in and out,
#                                  destroy it
#
# Environment: GARDEN_PORT (7777), GARDEN_STATE_DIR (/var/tmp/garden-cpi-real-garden),
# GARDEN_TAG (z: one character namespacing gdn's iptables chains w-z-*, interfaces wz*,
# cgroups garden-z and the cgroup mounts under /tmp/cgroups-z), GARDEN_NETWORK_POOL
# (10.254.0.0/22), GARDEN_LOG_LEVEL (info), GARDEN_CACHE_DIR (<repo>/.cache/real-garden).
#
# Exit codes: 0 ok; 1 failure; 2 a prerequisite is missing (not root, no Go, no compiler, a
# Debian package that cannot be installed, GNU tar's source cannot be fetched).
set -euo pipefail

# Bump when the build recipe changes so that cached builds are redone.
SCRIPT_VERSION=1
# Bump when the GNU tar recipe changes.
TAR_RECIPE_VERSION=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/tools/garden"
CACHE_BASE="${GARDEN_CACHE_DIR:-$ROOT/.cache/real-garden}"
STATE_DIR="${GARDEN_STATE_DIR:-/var/tmp/garden-cpi-real-garden}"
PORT="${GARDEN_PORT:-7777}"
TAG="${GARDEN_TAG:-z}"
NETWORK_POOL="${GARDEN_NETWORK_POOL:-10.254.0.0/22}"
LOG_LEVEL="${GARDEN_LOG_LEVEL:-info}"

DEPOT_DIR="$STATE_DIR/depot"
PIDFILE="$STATE_DIR/gdn.pid"
LOGFILE="$STATE_DIR/gdn.log"
SETUP_MARKER="$STATE_DIR/setup.boot-id"
IP_FORWARD_SAVED="$STATE_DIR/ip_forward.before"
CGROUP_MNT="/tmp/cgroups-$TAG"
GARDEN_CGROUP="garden-$TAG"
CHAIN_PREFIX="w-$TAG-"
IFACE_PREFIX="w$TAG"
RUNC_ROOT=/run/runc
REAL_RUNC=/usr/sbin/runc
IPTABLES=/usr/sbin/iptables-legacy
IPTABLES_RESTORE=/usr/sbin/iptables-legacy-restore
# Where gdn bind-mounts --init-bin inside every container (fixed by gdn).
INIT_PATH_IN_CONTAINER=/tmp/garden-init
# Handles of our containers, collected by stop before it removes them.
HANDLES=""

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

log() { printf 'real-garden: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
missing() { log "missing prerequisite: $*"; exit 2; }

# shellcheck source=scripts/lib/go-build.sh
source "$ROOT/scripts/lib/go-build.sh"

validate_settings() {
  [[ "$TAG" =~ ^[a-z0-9]$ ]] || die "GARDEN_TAG must be one character [a-z0-9] (gdn's interface names allow no more), got '$TAG'"
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "GARDEN_PORT must be a number, got '$PORT'"
  [[ "$STATE_DIR" = /* && "$STATE_DIR" != / ]] || die "GARDEN_STATE_DIR must be an absolute path other than /"
}

require_root() {
  [[ "$(id -u)" = 0 ]] || missing "root (gdn mounts cgroups, creates network namespaces and iptables rules)"
}

# ---------------------------------------------------------------------------------------------
# Prerequisites

APT_UPDATED=0
# have CMD: a command in PATH, or an existing file when CMD is a path.
have() {
  if [[ "$1" == */* ]]; then [[ -e "$1" ]]; else command -v "$1" >/dev/null 2>&1; fi
}

# ensure_tools CMD:PACKAGE... installs the Debian packages whose command (or file) is missing.
ensure_tools() {
  local want=() pair cmd pkg
  for pair in "$@"; do
    cmd="${pair%%:*}" pkg="${pair#*:}"
    if ! have "$cmd"; then
      want+=("$pkg")
    fi
  done
  ((${#want[@]})) || return 0
  command -v apt-get >/dev/null 2>&1 || missing "Debian packages ${want[*]} (and apt-get to install them)"
  [[ "$(id -u)" = 0 ]] || missing "Debian packages ${want[*]} (run as root to install them)"
  log "installing Debian packages: ${want[*]}"
  if ((APT_UPDATED == 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || missing "apt-get update failed; needed packages: ${want[*]}"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2 \
    || missing "apt-get install ${want[*]} failed"
  for pair in "$@"; do
    cmd="${pair%%:*}" pkg="${pair#*:}"
    have "$cmd" || missing "$cmd (package $pkg installed but the command is still absent)"
  done
}

run_tools() {
  ensure_tools "$REAL_RUNC:runc" "$IPTABLES:iptables" "$IPTABLES_RESTORE:iptables" "ip:iproute2" \
    "curl:curl" "mountpoint:util-linux" "setsid:util-linux" "flock:util-linux"
}

build_tools() {
  ensure_tools "gcc:gcc" "/usr/include/stdio.h:libc6-dev" "musl-gcc:musl-tools" "make:make" \
    "xz:xz-utils" "readelf:binutils" "flock:util-linux" "sha256sum:coreutils"
  go_require
}

# ---------------------------------------------------------------------------------------------
# Build

build_key() {
  go_build_key "$TOOLS_DIR" "script=$SCRIPT_VERSION tar=$TAR_RECIPE_VERSION" "$TOOLS_DIR"/runc-capfilter/*.go
}

bin_dir() { echo "$CACHE_BASE/$(build_key)"; }

is_static() { ! readelf -l "$1" 2>/dev/null | grep -q 'INTERP'; }

# GNU tar, static with musl: gdn runs --tar-bin through nstar inside the container's mount
# namespace with --xattrs/--xattrs-include, which busybox's tar rejects, and where no dynamic
# loader can be relied on. The source comes from Debian's archive through apt-get source, with an
# apt configuration private to the cache (no change to the host's apt sources).
build_tar() {
  local out="$CACHE_BASE/gnu-tar-r$TAR_RECIPE_VERSION"
  if [[ -x "$out/tar" ]]; then
    echo "$out/tar"
    return 0
  fi
  local work="$CACHE_BASE/gnu-tar-work.$$"
  rm -rf "$work"
  mkdir -p "$work/apt/lists/partial" "$work/apt/archives/partial" "$work/src"
  local sources
  sources=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)
  sources="${sources:-http://deb.debian.org/debian}"
  local suite
  suite=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
  suite="${suite:-bookworm}"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $sources $suite main" >"$work/apt/sources.list"
  local aptopts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache::archives=$work/apt/archives"
    -o "APT::Sandbox::User=root")
  log "fetching GNU tar's source from Debian ($sources $suite)"
  apt-get "${aptopts[@]}" update -qq >&2 || missing "Debian's source index (apt-get update with deb-src $sources failed)"
  (cd "$work/src" && apt-get "${aptopts[@]}" source --download-only -qq tar >&2) \
    || missing "GNU tar's source (apt-get source --download-only tar failed)"
  local orig
  orig=$(find "$work/src" -maxdepth 1 -name 'tar_*.orig.tar.*' | head -1)
  [[ -n "$orig" ]] || missing "GNU tar's source (no tar_*.orig.tar.* downloaded)"
  tar -xf "$orig" -C "$work/src"
  local dir
  dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'tar-*' | head -1)
  log "building GNU tar static with musl-gcc (takes a few minutes)"
  (
    cd "$dir"
    FORCE_UNSAFE_CONFIGURE=1 CC=musl-gcc LDFLAGS=-static ./configure -q --disable-nls \
      --without-selinux --without-posix-acls >"$work/configure.log" 2>&1
    make -j"$(nproc)" -C gnu >"$work/make.log" 2>&1
    make -j"$(nproc)" -C lib >>"$work/make.log" 2>&1
    make -j"$(nproc)" -C src >>"$work/make.log" 2>&1
  ) || { tail -20 "$work/configure.log" "$work/make.log" >&2 || true; die "building GNU tar failed (logs in $work)"; }
  strip "$dir/src/tar"
  is_static "$dir/src/tar" || die "GNU tar came out dynamically linked"
  mkdir -p "$out.tmp"
  cp "$dir/src/tar" "$out.tmp/tar"
  basename "$orig" >"$out.tmp/SOURCE"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  rm -rf "$work"
  echo "$out/tar"
}

cmd_build() {
  build_tools
  [[ -f "$TOOLS_DIR/go.mod" ]] || die "$TOOLS_DIR/go.mod not found"
  local key
  key=$(build_key)
  cached_build "$CACHE_BASE" "$key" build_garden "$CACHE_BASE/$key"
}

# build_garden DIR OUT: builds gdn and the programs it runs into DIR, which becomes OUT (cached_build's
# builder).
build_garden() {
  local tmp="$1" out="$2" started=$SECONDS
  log "building into $out"

  (cd "$TOOLS_DIR" && go_env go mod download code.cloudfoundry.org/guardian) >&2 \
    || missing "the guardian module (go mod download failed; is the Go module proxy reachable?)"
  local src
  src=$(cd "$TOOLS_DIR" && go_env go list -m -f '{{.Dir}}' code.cloudfoundry.org/guardian)
  [[ -d "$src/cmd/init" && -d "$src/rundmc/nstar" ]] || die "guardian source not found (got '$src')"

  log "go build gdn, dadoo (guardian at $src)"
  (cd "$TOOLS_DIR" && go_env CGO_ENABLED=1 go build -o "$tmp/" \
    code.cloudfoundry.org/guardian/cmd/gdn code.cloudfoundry.org/guardian/cmd/dadoo) >&2 \
    || die "go build of gdn/dadoo failed"
  log "go build runc-capfilter"
  (cd "$TOOLS_DIR" && go_env go build -o "$tmp/runc-capfilter" ./runc-capfilter) >&2 \
    || die "go build of runc-capfilter failed"
  log "gcc -static init, nstar"
  gcc -static -O2 -o "$tmp/init" "$src"/cmd/init/*.c >&2 || die "building init failed"
  gcc -static -O2 -o "$tmp/nstar" "$src"/rundmc/nstar/*.c >&2 || die "building nstar failed"
  local tarbin
  tarbin=$(build_tar)
  cp "$tarbin" "$tmp/tar"
  local b
  for b in init nstar tar; do
    is_static "$tmp/$b" || die "$b is not static"
  done
  {
    echo "built=$(date -u +%FT%TZ) seconds=$((SECONDS - started))"
    echo "guardian=$(cd "$TOOLS_DIR" && go_env go list -m -f '{{.Version}}' code.cloudfoundry.org/guardian)"
    go_env go version
    echo "tar=$("$tmp/tar" --version | head -1) from $(cat "$(dirname "$tarbin")/SOURCE")"
  } >"$tmp/BUILD-INFO"
  log "built in $((SECONDS - started))s: $out"
}

# ---------------------------------------------------------------------------------------------
# Processes and state

cmdline_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

gdn_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cmdline_of "$pid")" == *" server "*"--depot $DEPOT_DIR "* ]] || return 1
  echo "$pid"
}

ping_ok() {
  [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/ping" 2>/dev/null)" = 200 ]]
}

# Handles of the containers in our depot.
depot_handles() {
  [[ -d "$DEPOT_DIR" ]] || return 0
  find "$DEPOT_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'
}

# runc containers (under gdn's runc root) whose bundle is in our depot.
our_runc_containers() {
  [[ -d "$RUNC_ROOT" && -x "$REAL_RUNC" ]] || return 0
  local d id bundle
  for d in "$RUNC_ROOT"/*/; do
    [[ -f "$d/state.json" ]] || continue
    id=$(basename "$d")
    bundle=$("$REAL_RUNC" --root "$RUNC_ROOT" state "$id" 2>/dev/null | sed -n 's/^ *"bundle": *"\(.*\)",\{0,1\}$/\1/p')
    if [[ -z "$bundle" ]]; then
      # state unreadable: fall back to the depot's handle list
      [[ -d "$DEPOT_DIR/$id" ]] && echo "$id"
      continue
    fi
    [[ "$bundle" == "$DEPOT_DIR/"* ]] && echo "$id"
  done
  return 0
}

# Every cgroup directory named garden-$TAG: in the hierarchies setup mounted under $CGROUP_MNT,
# and in the host's own mounts (runc also creates garden-<tag>/<handle> in the cgroup2 hierarchy
# of a hybrid host, /sys/fs/cgroup/unified).
garden_cgroups() {
  local roots=(/sys/fs/cgroup)
  [[ -d "$CGROUP_MNT" ]] && roots+=("$CGROUP_MNT")
  find "${roots[@]}" -mindepth 1 -maxdepth 6 -type d -name "$GARDEN_CGROUP" -prune -print 2>/dev/null || true
}

# Cgroup directories runc made for our containers: privileged ones get runc's default path, a
# cgroup named after the handle beside runc's own (/<handle> in most hierarchies); unprivileged
# ones get garden-<tag>/<handle>, removed with garden_cgroups.
handle_cgroups() {
  local h
  for h in $HANDLES; do
    find /sys/fs/cgroup "$CGROUP_MNT" -mindepth 2 -maxdepth 6 -type d -name "$h" -prune -print 2>/dev/null || true
  done
}

# Processes that belong to this Garden: gdn/dadoo/runc whose command line names our state dir,
# runc commands about one of our containers, and every process in one of our containers' cgroups.
our_pids() {
  local pid cl exe h
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [[ "$pid" = "$$" || "$pid" = "$BASHPID" ]] && continue
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case "$exe" in
      "$CACHE_BASE"/*/gdn | "$CACHE_BASE"/*/dadoo | "$REAL_RUNC" | "$CACHE_BASE"/*/runc-capfilter)
        cl=$(cmdline_of "$pid")
        if [[ "$cl" == *"$STATE_DIR/"* ]]; then
          echo "$pid"
          continue
        fi
        if [[ "$exe" = "$REAL_RUNC" ]]; then
          for h in $HANDLES; do
            [[ "$cl " == *" $h "* ]] && { echo "$pid"; break; }
          done
        fi
        ;;
    esac
  done
  # /proc/<pid>/cgroup lines are id:controllers:path; a path with a component equal to one of
  # our handles, or under garden-<tag>, is one of our containers.
  awk -F: -v handles="$HANDLES" -v garden="$GARDEN_CGROUP" '
    BEGIN { n = split(handles, hs, " "); for (i = 1; i <= n; i++) H[hs[i]] = 1 }
    {
      k = split($3, parts, "/")
      for (i = 1; i <= k; i++) if (parts[i] in H || parts[i] == garden) {
        pid = FILENAME; sub(/^\/proc\//, "", pid); sub(/\/cgroup$/, "", pid); print pid; nextfile
      }
    }' /proc/[0-9]*/cgroup 2>/dev/null || true
}

# Mount points at or under a directory, deepest first.
mounts_under() {
  awk -v d="$1" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r
}

# Chains with our prefix in a table.
our_chains() {
  [[ -x "$IPTABLES" ]] || return 0
  "$IPTABLES" -w -t "$1" -S 2>/dev/null | awk -v p="$CHAIN_PREFIX" '$1 == "-N" && index($2, p) == 1 { print $2 }'
}

# Rules outside our chains that jump to one of them, as "CHAIN NUMBER", highest number first.
our_jumps() {
  [[ -x "$IPTABLES" ]] || return 0
  local chain
  for chain in $("$IPTABLES" -w -t "$1" -S 2>/dev/null | awk '$1 == "-P" || $1 == "-N" { print $2 }'); do
    [[ "$chain" == "$CHAIN_PREFIX"* ]] && continue
    "$IPTABLES" -w -t "$1" -L "$chain" -n --line-numbers 2>/dev/null |
      awk -v c="$chain" -v p="$CHAIN_PREFIX" 'NR > 2 && index($2, p) == 1 { print c, $1 }' | sort -k2,2nr
  done
}

our_links() {
  ip -o link show 2>/dev/null | awk -F': ' -v p="$IFACE_PREFIX" '{ sub(/@.*/, "", $2); if (index($2, p) == 1) print $2 }'
}

# ---------------------------------------------------------------------------------------------
# start

gdn_setup_needed() {
  [[ -f "$SETUP_MARKER" ]] || return 0
  [[ "$(cat "$SETUP_MARKER")" = "$(cat /proc/sys/kernel/random/boot_id)" ]] || return 0
  mountpoint -q "$CGROUP_MNT" || return 0
  [[ -n "$(garden_cgroups)" ]] || return 0
  return 1
}

cmd_start() {
  require_root
  validate_settings
  run_tools
  local bin
  bin=$(cmd_build)
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock 9

  local pid
  if pid=$(gdn_pid); then
    if ping_ok; then
      log "already running (pid $pid)"
      echo "GARDEN_ADDRESS=127.0.0.1:$PORT"
      return 0
    fi
    die "gdn (pid $pid) is running but 127.0.0.1:$PORT/ping does not answer; run stop first"
  fi
  if ping_ok; then
    die "something else already answers on 127.0.0.1:$PORT/ping; set GARDEN_PORT"
  fi

  if gdn_setup_needed; then
    log "gdn setup --tag $TAG (mounts cgroup hierarchies under $CGROUP_MNT)"
    "$bin/gdn" setup --tag "$TAG" >>"$LOGFILE" 2>&1 || { tail -20 "$LOGFILE" >&2; die "gdn setup failed"; }
    cat /proc/sys/kernel/random/boot_id >"$SETUP_MARKER"
  fi
  [[ -f "$IP_FORWARD_SAVED" ]] || cat /proc/sys/net/ipv4/ip_forward >"$IP_FORWARD_SAVED"
  mkdir -p "$DEPOT_DIR"

  local args=(
    server
    --tag "$TAG" --skip-setup
    --bind-ip 127.0.0.1 --bind-port "$PORT"
    --depot "$DEPOT_DIR"
    --destroy-containers-on-startup
    --default-grace-time 0
    --network-pool "$NETWORK_POOL"
    --allow-host-access
    --no-image-plugin
    --runtime-plugin "$bin/runc-capfilter"
    --init-bin "$bin/init"
    --dadoo-bin "$bin/dadoo"
    --nstar-bin "$bin/nstar"
    --tar-bin "$bin/tar"
    --iptables-bin "$IPTABLES"
    --iptables-restore-bin "$IPTABLES_RESTORE"
    --log-level "$LOG_LEVEL"
  )
  local started=$SECONDS
  log "starting: gdn ${args[*]}"
  echo "=== $(date -u +%FT%TZ) gdn ${args[*]}" >>"$LOGFILE"
  # (fd 9 is our lock file: gdn must not inherit it)
  GARDEN_CPI_REAL_RUNC="$REAL_RUNC" setsid "$bin/gdn" "${args[@]}" </dev/null >>"$LOGFILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + ${GARDEN_START_TIMEOUT:-60}))
  until ping_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -30 "$LOGFILE" >&2
      rm -f "$PIDFILE"
      die "gdn exited during start-up (log: $LOGFILE)"
    fi
    if ((SECONDS >= deadline)); then
      tail -30 "$LOGFILE" >&2
      die "gdn did not answer /ping within ${GARDEN_START_TIMEOUT:-60}s (pid $pid, log: $LOGFILE); run stop"
    fi
    sleep 0.2
  done
  log "gdn answers on 127.0.0.1:$PORT after $((SECONDS - started))s (pid $pid, log $LOGFILE)"
  echo "GARDEN_ADDRESS=127.0.0.1:$PORT"
}

# ---------------------------------------------------------------------------------------------
# stop

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

cmd_stop() {
  require_root
  validate_settings
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 120 9 || die "$STATE_DIR/.lock is held by another start/stop for over 120s"
  local pid id m cg chain num table link leftovers=()
  HANDLES=$( (depot_handles; our_runc_containers) | sort -u | tr '\n' ' ')

  # 1. gdn itself
  if pid=$(gdn_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    if wait_gone "$pid" 20; then
      log "removed: gdn server (pid $pid, SIGTERM)"
    else
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
      log "removed: gdn server (pid $pid, SIGKILL after 20s)"
    fi
  fi
  rm -f "$PIDFILE"

  # 2. containers: runc kill + delete for every runc container whose bundle is in our depot
  for id in $(our_runc_containers); do
    "$REAL_RUNC" --root "$RUNC_ROOT" kill "$id" KILL >/dev/null 2>&1 || true
    if "$REAL_RUNC" --root "$RUNC_ROOT" delete --force "$id" >/dev/null 2>&1; then
      log "removed: runc container $id"
    fi
  done

  # 3. any process left: dadoo, runc, gdn, container processes in our cgroups
  local pids
  for _ in 1 2 3; do
    pids=$(our_pids | sort -u)
    [[ -n "$pids" ]] || break
    for pid in $pids; do
      log "removed: process $pid ($(cmdline_of "$pid" | cut -c1-100))"
      kill -KILL "$pid" 2>/dev/null || true
    done
    sleep 0.5
  done
  # containers whose init died with its processes may now be deletable
  for id in $(our_runc_containers); do
    "$REAL_RUNC" --root "$RUNC_ROOT" delete --force "$id" >/dev/null 2>&1 && log "removed: runc container $id"
  done

  # 4. mounts under the state dir, then the depot (never across a mount)
  while read -r m; do
    [[ -n "$m" ]] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    log "removed: mount $m"
  done < <(mounts_under "$STATE_DIR")
  if [[ -d "$DEPOT_DIR" && -z "$(mounts_under "$DEPOT_DIR")" ]]; then
    if [[ -n "$(depot_handles)" ]]; then
      log "removed: depot entries $(depot_handles | tr '\n' ' ')"
    fi
    rm -rf --one-file-system "${DEPOT_DIR:?}"
  fi

  # 5. iptables: jumps into our chains from other chains, then our chains (filter and nat)
  for table in filter nat; do
    while read -r chain num; do
      [[ -n "$chain" ]] || continue
      "$IPTABLES" -w -t "$table" -D "$chain" "$num" && log "removed: iptables -t $table rule $chain #$num (jump to $CHAIN_PREFIX*)"
    done < <(our_jumps "$table")
    for chain in $(our_chains "$table"); do
      "$IPTABLES" -w -t "$table" -F "$chain" || true
    done
    for chain in $(our_chains "$table"); do
      "$IPTABLES" -w -t "$table" -X "$chain" && log "removed: iptables -t $table chain $chain"
    done
  done

  # 6. network interfaces gdn made (veth pairs w<tag><id>-0/-1, bridges w<tag>brdg-<subnet>)
  for link in $(our_links); do
    ip link del "$link" 2>/dev/null && log "removed: interface $link"
  done

  # 7. cgroups: our containers' and garden-<tag> cgroups (deepest first), then the hierarchies
  #    mounted by setup
  while read -r cg; do
    [[ -n "$cg" && -d "$cg" ]] || continue
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -d "$cg" ]] || log "removed: cgroup $cg"
  done < <(handle_cgroups)
  while read -r cg; do
    [[ -n "$cg" && -d "$cg" ]] || continue
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -d "$cg" ]] || log "removed: cgroup $cg"
  done < <(garden_cgroups)
  if [[ -z "$(garden_cgroups)" ]]; then
    while read -r m; do
      [[ -n "$m" ]] || continue
      umount "$m" 2>/dev/null && log "removed: mount $m"
    done < <(mounts_under "$CGROUP_MNT")
    if [[ -d "$CGROUP_MNT" && -z "$(mounts_under "$CGROUP_MNT")" ]]; then
      find "$CGROUP_MNT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
    rm -f "$SETUP_MARKER"
  fi

  # 8. ip_forward as it was before start, unless another gdn (another tag) still runs and needs it
  if [[ -f "$IP_FORWARD_SAVED" ]]; then
    local before
    before=$(cat "$IP_FORWARD_SAVED")
    if pgrep -x gdn >/dev/null 2>&1; then
      log "kept: net.ipv4.ip_forward (another gdn is running)"
    elif [[ "$before" =~ ^[01]$ && "$(cat /proc/sys/net/ipv4/ip_forward)" != "$before" ]]; then
      echo "$before" >/proc/sys/net/ipv4/ip_forward && log "restored: net.ipv4.ip_forward=$before"
    fi
    rm -f "$IP_FORWARD_SAVED"
  fi

  # 9. verify
  pids=$(our_pids | sort -u | tr '\n' ' ')
  [[ -z "${pids// /}" ]] || leftovers+=("processes: $pids")
  id=$(our_runc_containers | tr '\n' ' ')
  [[ -z "${id// /}" ]] || leftovers+=("runc containers: $id")
  m=$( (mounts_under "$STATE_DIR"; mounts_under "$CGROUP_MNT") | tr '\n' ' ')
  [[ -z "${m// /}" ]] || leftovers+=("mounts: $m")
  cg=$( (garden_cgroups; handle_cgroups) | tr '\n' ' ')
  [[ -z "${cg// /}" ]] || leftovers+=("cgroups: $cg")
  for table in filter nat; do
    chain=$( (our_chains "$table"; our_jumps "$table") | tr '\n' ' ')
    [[ -z "${chain// /}" ]] || leftovers+=("iptables $table: $chain")
  done
  link=$(our_links | tr '\n' ' ')
  [[ -z "${link// /}" ]] || leftovers+=("interfaces: $link")
  if [[ -d "$DEPOT_DIR" ]]; then leftovers+=("depot dir: $DEPOT_DIR"); fi

  if ((${#leftovers[@]})); then
    local l
    for l in "${leftovers[@]}"; do log "LEFT BEHIND: $l"; done
    return 1
  fi
  log "stopped; nothing left (state dir $STATE_DIR keeps only the log)"
}

# ---------------------------------------------------------------------------------------------
# env, status, smoke

cmd_env() {
  validate_settings
  local bin=""
  if command -v go >/dev/null 2>&1; then bin=$(bin_dir); fi
  printf '%s=%q\n' \
    GARDEN_ADDRESS "127.0.0.1:$PORT" \
    GARDEN_NETWORK tcp \
    GARDEN_PORT "$PORT" \
    GARDEN_STATE_DIR "$STATE_DIR" \
    GARDEN_DEPOT_DIR "$DEPOT_DIR" \
    GARDEN_LOG "$LOGFILE" \
    GARDEN_PIDFILE "$PIDFILE" \
    GARDEN_TAG "$TAG" \
    GARDEN_NETWORK_POOL "$NETWORK_POOL" \
    GARDEN_BIN_DIR "$bin" \
    GARDEN_INIT_PATH "${bin:+$bin/init}" \
    GARDEN_INIT_PATH_IN_CONTAINER "$INIT_PATH_IN_CONTAINER" \
    GARDEN_BUILT "$([[ -n "$bin" && -f "$bin/.complete" ]] && echo true || echo false)" \
    GARDEN_RUNNING "$(ping_ok && echo true || echo false)"
}

cmd_status() {
  validate_settings
  local pid
  if pid=$(gdn_pid) && ping_ok; then
    echo "running: pid $pid, 127.0.0.1:$PORT"
    return 0
  fi
  echo "not running"
  return 1
}

# garden_run HANDLE PROCESS-SPEC-JSON: runs a process through Garden's API and prints
# {"stdout":...,"stderr":...,"exit_status":N}. Garden answers POST .../processes with a 201 whose
# header announces chunked encoding, then hijacks the connection and writes raw NDJSON
# ({"process_id","stream_id"}, later {"exit_status"}); stdout and stderr come from two more
# hijacked GETs on .../attaches/<stream_id>/stdout|stderr. curl cannot read these, hence node.
garden_run() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  PORT="$PORT" node -e '
const net = require("net");
const host = "127.0.0.1", port = +process.env.PORT;
const [handle, body] = process.argv.slice(-2);
function raw(method, path, payload, onHead, onData, onEnd) {
  const sock = net.connect(port, host, () => sock.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n` +
    (payload ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : "") + `\r\n${payload || ""}`));
  let head = Buffer.alloc(0), done = false;
  sock.on("data", (d) => {
    if (done) return onData(d);
    head = Buffer.concat([head, d]);
    const i = head.indexOf("\r\n\r\n"); if (i < 0) return;
    done = true; onHead(head.slice(0, i).toString().split("\r\n")[0]);
    if (head.length > i + 4) onData(head.slice(i + 4));
  });
  sock.on("end", onEnd || (() => {}));
  sock.on("error", (e) => { console.error(e.message); process.exit(1); });
  return sock;
}
const out = { stdout: "", stderr: "" }; let pending = 0, exit = null, buf = "", run;
const finish = () => { if (exit !== null && pending === 0) { console.log(JSON.stringify({ ...out, exit_status: exit })); run.destroy(); } };
run = raw("POST", `/containers/${handle}/processes`, body, (st) => { if (!/ 201 /.test(st)) { console.error("run: " + st); process.exit(1); } }, (d) => {
  buf += d; let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl).trim(); buf = buf.slice(nl + 1); if (!line) continue;
    const msg = JSON.parse(line);
    if (msg.error) { console.error("error: " + msg.error); process.exit(1); }
    if (msg.stream_id) for (const s of ["stdout", "stderr"]) {
      pending++;
      raw("GET", `/containers/${handle}/processes/${msg.process_id}/attaches/${msg.stream_id}/${s}`, null, () => {}, (c) => { out[s] += c; }, () => { pending--; finish(); });
    }
    if (msg.exit_status !== undefined) { exit = msg.exit_status; finish(); }
  }
});
setTimeout(() => { console.error("timeout"); process.exit(1); }, 30000).unref();
' "$1" "$2"
}

# A busybox rootfs usable as raw://<dir> (used as-is by gdn: writes land in the directory).
make_busybox_rootfs() {
  local dir="$1" applet
  ensure_tools "busybox:busybox-static"
  is_static "$(command -v busybox)" || missing "a static busybox (package busybox-static)"
  if [[ ! -x "$dir/bin/busybox" ]]; then
    mkdir -p "$dir"/{bin,etc,root,tmp,proc,sys,dev}
    chmod 1777 "$dir/tmp"
    cp "$(command -v busybox)" "$dir/bin/busybox"
    for applet in $("$dir/bin/busybox" --list); do
      [[ "$applet" = busybox ]] || ln -sf busybox "$dir/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nvcap:x:1000:1000:vcap:/tmp:/bin/sh\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nvcap:x:1000:\n' >"$dir/etc/group"
  fi
}

cmd_smoke() {
  require_root
  validate_settings
  ping_ok || die "gdn is not answering on 127.0.0.1:$PORT (run start first)"
  command -v node >/dev/null 2>&1 || missing "node (smoke reads Garden's hijacked process streams with it)"
  local base="http://127.0.0.1:$PORT" rootfs="$STATE_DIR/rootfs-busybox" h="real-garden-smoke-$$" out code
  make_busybox_rootfs "$rootfs"
  local t0=$SECONDS
  code=$(curl -s -o "$STATE_DIR/smoke.out" -w '%{http_code}' -X POST "$base/containers" \
    -H 'Content-Type: application/json' \
    -d "{\"handle\":\"$h\",\"image\":{\"uri\":\"raw://$rootfs\"},\"privileged\":true}")
  [[ "$code" = 200 ]] || die "create: HTTP $code $(cat "$STATE_DIR/smoke.out")"
  log "smoke: created privileged container $h on raw://$rootfs ($((SECONDS - t0))s)"
  out=$(garden_run "$h" '{"path":"/bin/sh","args":["-c","echo hi; id -u; echo oops >&2; exit 3"],"user":"root"}') || true
  log "smoke: run answered: $out"
  [[ "$out" = '{"stdout":"hi\n0\n","stderr":"oops\n","exit_status":3}' ]] || { curl -s -X DELETE "$base/containers/$h" >/dev/null; die "process run failed"; }
  # stream in a tar (nstar + tar inside the container), then stream it back out
  local tdir="$STATE_DIR/smoke-tar"
  rm -rf "$tdir" && mkdir -p "$tdir/in" && echo "streamed" >"$tdir/in/file.txt"
  tar -C "$tdir/in" -cf "$tdir/in.tar" file.txt
  code=$(curl -s -o "$STATE_DIR/smoke.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$tdir/in.tar" \
    "$base/containers/$h/files?destination=/tmp/smoke-in&user=root")
  [[ "$code" = 200 ]] || { curl -s -X DELETE "$base/containers/$h" >/dev/null; die "stream-in: HTTP $code $(cat "$STATE_DIR/smoke.out")"; }
  curl -s -o "$tdir/out.tar" "$base/containers/$h/files?source=/tmp/smoke-in/file.txt&user=root"
  [[ "$(tar -xOf "$tdir/out.tar" file.txt 2>/dev/null)" = streamed ]] || { curl -s -X DELETE "$base/containers/$h" >/dev/null; die "stream-out did not return the streamed file"; }
  log "smoke: stream-in and stream-out via nstar+tar work"
  rm -rf "$tdir" "$rootfs/tmp/smoke-in"
  code=$(curl -s -o "$STATE_DIR/smoke.out" -w '%{http_code}' -X DELETE "$base/containers/$h")
  [[ "$code" = 200 ]] || die "destroy: HTTP $code $(cat "$STATE_DIR/smoke.out")"
  rm -f "$STATE_DIR/smoke.out"
  log "smoke: destroyed $h; all ok"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    build) validate_settings; cmd_build ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    status) cmd_status ;;
    smoke) cmd_smoke ;;
    *)
      echo "usage: $0 build|start|stop|env|status|smoke" >&2
      exit 64
      ;;
  esac
}

main "$@"
