#!/usr/bin/env bash
# Builds the dev release tarball release/garden-cpi-<dev-version>.tgz with scripts/release.sh.
set -euo pipefail

root="$PWD"
version="$(cat dev-version/number)"
install -m 0755 bosh-cli/bosh-cli-*-linux-amd64 /usr/local/bin/bosh
bosh --version

cd garden-cpi
npm ci
BOSH_CLI=/usr/local/bin/bosh TARBALL="${root}/release/garden-cpi-${version}.tgz" scripts/release.sh --version "${version}"
ls -l "${root}/release"
