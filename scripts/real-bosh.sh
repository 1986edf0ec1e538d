#!/usr/bin/env bash
# Builds the real BOSH peers for garden-cpi's tests from the pinned tools module tools/bosh/: the
# BOSH agent (runs inside test stemcells) and the bosh CLI (create-release, create-env). Test tooling
# only, nothing here is part of the BOSH release. See docs/real-bosh.md.
#
#   scripts/real-bosh.sh build   build bosh-agent and bosh into .cache/real-bosh/<key>/ (cached by
#                                the tools module, the Go version and this script) and print that dir
#   scripts/real-bosh.sh path    print the dir of a finished build, exit 1 when there is none
#
# Environment: BOSH_TOOLS_CACHE_DIR (<repo>/.cache/real-bosh).
# Exit codes: 0 ok; 1 failure; 2 a prerequisite is missing (no Go, module proxy unreachable).
set -euo pipefail
shopt -s inherit_errexit

# Bump when the build recipe changes so that cached builds are redone.
SCRIPT_VERSION=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/tools/bosh"
CACHE_BASE="${BOSH_TOOLS_CACHE_DIR:-$ROOT/.cache/real-bosh}"

log() { printf 'real-bosh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
missing() { log "missing prerequisite: $*"; exit 2; }

# shellcheck source=scripts/lib/go-build.sh
source "$ROOT/scripts/lib/go-build.sh"

# The versions the tools module pins, read from go.mod so that they are written once.
pinned() { sed -n "s|^\t$1 \(v[^ ]*\).*|\1|p" "$TOOLS_DIR/go.mod" | head -1; }

build_key() { go_build_key "$TOOLS_DIR" "script=$SCRIPT_VERSION"; }

cmd_path() {
  local out
  out="$CACHE_BASE/$(build_key)"
  [[ -f "$out/.complete" ]] || return 1
  echo "$out"
}

# build_peers DIR OUT: builds bosh-agent and bosh into DIR, which becomes OUT (cached_build's builder).
build_peers() {
  local tmp="$1" out="$2" started=$SECONDS cli_version agent_version
  cli_version=$(pinned github.com/cloudfoundry/bosh-cli/v7)
  agent_version=$(pinned github.com/cloudfoundry/bosh-agent/v2)
  [[ -n "$cli_version" && -n "$agent_version" ]] || die "tools/bosh/go.mod names no bosh-cli/bosh-agent version"
  log "building bosh-agent $agent_version and bosh CLI $cli_version into $out"
  (cd "$TOOLS_DIR" && go_env go mod download github.com/cloudfoundry/bosh-agent/v2 github.com/cloudfoundry/bosh-cli/v7) >&2 \
    || missing "the bosh-agent/bosh-cli modules (go mod download failed; is the Go module proxy reachable?)"
  (
    cd "$TOOLS_DIR"
    go_env go build -trimpath -o "$tmp/bosh-agent" \
      -ldflags "-X main.VersionLabel=${agent_version#v}" github.com/cloudfoundry/bosh-agent/v2/main
    go_env go build -trimpath -o "$tmp/bosh" \
      -ldflags "-X github.com/cloudfoundry/bosh-cli/v7/cmd.VersionLabel=${cli_version#v}" github.com/cloudfoundry/bosh-cli/v7
  ) >&2 || die "go build failed"
  printf 'bosh-agent %s\nbosh-cli %s\n' "$agent_version" "$cli_version" >"$tmp/VERSIONS"
  log "built in $((SECONDS - started)) s"
}

cmd_build() {
  go_require
  local key
  key=$(build_key)
  cached_build "$CACHE_BASE" "$key" build_peers "$CACHE_BASE/$key"
}

case "${1:-}" in
  build) cmd_build ;;
  path) cmd_path ;;
  *) echo "usage: $0 build|path" >&2; exit 64 ;;
esac
