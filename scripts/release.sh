#!/usr/bin/env bash
# Builds the garden-cpi BOSH release (npm run release).
#
#   scripts/release.sh [bosh create-release flags...]   build the bundle, prepare the package files, fetch the
#                                                       node blob, then `bosh create-release`
#   scripts/release.sh prepare [DIR]                    only copy dist/cpi.js, its source maps and code cache into
#                                                       DIR/src/warden_cpi/ (DIR: this release directory; the
#                                                       tests pass a temp dir so they never write into src/)
#
# The bosh CLI is the one pinned in tools/bosh (scripts/real-bosh.sh build, cached under .cache/real-bosh),
# or BOSH_CLI=/path/to/bosh. Exit status 2: no bosh CLI can be had (real-bosh.sh names what is missing).
# BOSH packages only files under src/ or blobs/, so the esbuild bundle is copied into the gitignored
# src/warden_cpi/ that packages/warden_cpi/spec lists. Every file this script and the CLI write is
# gitignored (or, config/blobs.yml, rewritten byte for byte as committed), so a clean checkout stays clean
# and the release records its commit without "uncommitted changes". Development trees usually are dirty,
# hence --force; --timestamp-version (unless --version or --final is given) keeps repeated uploads distinct.
# LICENSE at the top becomes the release's license.tgz.
# Default tarball: dev_releases/garden-cpi/garden-cpi-dev.tgz (override with TARBALL=...).
set -euo pipefail

repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo_dir"

prepare_package_files() {
  local target="${1:-${repo_dir}}/src/warden_cpi" file
  for file in cpi.js cpi.js.map cpi-methods.js cpi-methods.js.map cpi-methods.cache; do
    if [ ! -f "dist/${file}" ]; then
      echo "dist/${file} is missing: run 'npm run build' first" >&2
      exit 1
    fi
  done
  mkdir -p "$target"
  # Copy beside, then rename: a concurrent reader never sees a half-written bundle.
  for file in cpi.js cpi.js.map cpi-methods.js cpi-methods.js.map cpi-methods.cache; do
    cp "dist/${file}" "${target}/.${file}.tmp"
    mv -f "${target}/.${file}.tmp" "${target}/${file}"
  done
  # Files of an older build layout (e.g. cpi-services.*) go: the dir holds exactly this build.
  find "$target" -mindepth 1 -maxdepth 1 ! -name cpi.js ! -name cpi.js.map ! -name cpi-methods.js ! -name cpi-methods.js.map \
    ! -name cpi-methods.cache -exec rm -rf -- {} +
}

if [ "${1:-}" = prepare ]; then
  prepare_package_files "${2:-}"
  exit 0
fi

# The pinned CLI unless the caller names one (CI images that ship bosh).
if [ -z "${BOSH_CLI:-}" ]; then
  status=0
  tools_dir="$(scripts/real-bosh.sh build)" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "no bosh CLI: scripts/real-bosh.sh build failed (exit ${status}); set BOSH_CLI=/path/to/bosh to use another" >&2
    exit "$status"
  fi
  BOSH_CLI="${tools_dir}/bosh"
fi
[ -x "$BOSH_CLI" ] || { echo "BOSH_CLI=${BOSH_CLI} is not an executable" >&2; exit 2; }
export BOSH_CLI

npm run build
prepare_package_files
scripts/add-node-blob.sh

tarball="${TARBALL:-${repo_dir}/dev_releases/garden-cpi/garden-cpi-dev.tgz}"
mkdir -p "$(dirname "$tarball")"
command=("$BOSH_CLI" create-release --force --tarball "$tarball")
# A timestamp version unless the caller chose one (--version, --final).
case " $* " in
  *" --version"* | *" --final"*) ;;
  *) command+=(--timestamp-version) ;;
esac
command+=("$@")
"${command[@]}"
echo "release tarball: ${tarball}" >&2
