#!/usr/bin/env bash
# Builds the garden-cpi BOSH release (npm run release).
#
#   scripts/release.sh [bosh create-release flags...]   build the bundle, prepare the package files, fetch the
#                                                       node blob, then `bosh create-release` (or print it)
#   scripts/release.sh prepare                          only copy dist/cpi.js, its source maps and code cache into src/warden_cpi/
#
# BOSH packages only files under src/ or blobs/, so the esbuild bundle is copied into the gitignored
# src/warden_cpi/ that packages/warden_cpi/spec lists. Gitignored files do not make the tree dirty, but
# development trees usually are, hence --force; --timestamp-version (unless --version or --final is given)
# keeps repeated uploads distinct.
# Default tarball: dev_releases/garden-cpi/garden-cpi-dev.tgz (override with TARBALL=...).
set -euo pipefail

repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo_dir"

prepare_package_files() {
  local target=src/warden_cpi file
  for file in cpi.js cpi.js.map cpi-services.js cpi-services.js.map cpi-services.cache; do
    if [ ! -f "dist/${file}" ]; then
      echo "dist/${file} is missing: run 'npm run build' first" >&2
      exit 1
    fi
  done
  mkdir -p "$target"
  # Copy beside, then rename: a concurrent reader never sees a half-written bundle.
  for file in cpi.js cpi.js.map cpi-services.js cpi-services.js.map cpi-services.cache; do
    cp "dist/${file}" "${target}/.${file}.tmp"
    mv -f "${target}/.${file}.tmp" "${target}/${file}"
  done
}

if [ "${1:-}" = prepare ]; then
  prepare_package_files
  exit 0
fi

npm run build
prepare_package_files
scripts/add-node-blob.sh

tarball="${TARBALL:-${repo_dir}/dev_releases/garden-cpi/garden-cpi-dev.tgz}"
mkdir -p "$(dirname "$tarball")"
command=(bosh create-release --force --tarball "$tarball")
# A timestamp version unless the caller chose one (--version, --final).
case " $* " in
  *" --version"* | *" --final"*) ;;
  *) command+=(--timestamp-version) ;;
esac
command+=("$@")
if command -v bosh >/dev/null 2>&1; then
  "${command[@]}"
  echo "release tarball: ${tarball}" >&2
else
  echo "bosh CLI not found; the release directory is ready. From ${repo_dir} run:" >&2
  echo "  $(printf '%q ' "${command[@]}")" >&2
fi
