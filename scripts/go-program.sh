#!/usr/bin/env bash
# Builds one Go program of a pinned tools module for garden-cpi's tests, the demo and the benchmarks
# (testkit/go-program.ts runs it); test tooling only. See docs/go-builds.md.
#
#   scripts/go-program.sh build MODULE_DIR PACKAGE   build the main package PACKAGE (./monit-csrf-proxy,
#                                                    or . for the module itself) of the module at
#                                                    MODULE_DIR into .cache/go-programs/<name>/<key>/
#                                                    (cached by content) and print the binary's path
#
# Exit codes: 0 ok; 1 failure; 2 a prerequisite is missing (no Go).
set -euo pipefail
shopt -s inherit_errexit

log() { printf 'go-program: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
missing() { log "missing prerequisite: $*"; exit 2; }

# shellcheck source=scripts/lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-build.sh"

case "${1:-}" in
  build)
    (($# == 3)) || { echo "usage: $0 build MODULE_DIR PACKAGE" >&2; exit 64; }
    go_program "$2" "$3"
    ;;
  *) echo "usage: $0 build MODULE_DIR PACKAGE" >&2; exit 64 ;;
esac
