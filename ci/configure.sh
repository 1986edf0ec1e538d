#!/usr/bin/env bash
# Sets the garden-cpi pipeline: ci/configure.sh [fly target]
set -euo pipefail
cd "$(dirname "$0")"
fly -t "${1:-bosh}" set-pipeline -p garden-cpi -c pipeline.yml
