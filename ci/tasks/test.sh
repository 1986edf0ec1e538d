#!/usr/bin/env bash
# Unit, contract, lifecycle and release tests through the repository's CI entry point (.ci/run installs
# the Debian packages the tests drive, then typecheck, lint, npm test). Runs privileged: loop devices,
# mounts and namespaces are tested for real.
set -euo pipefail

# Optional extras of spec/release: visudo (sudo) checks the sudoers template, shellcheck the scripts.
apt-get update -qq
apt-get install -y -qq --no-install-recommends sudo shellcheck >/dev/null

cd garden-cpi
# The node blob lets spec/release/node-package.spec.ts run the real packaging script (npm registry).
scripts/add-node-blob.sh
.ci/run
