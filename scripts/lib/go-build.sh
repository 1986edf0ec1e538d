# shellcheck shell=bash
# The one way garden-cpi's test tooling builds Go programs from the pinned tools modules (tools/*) and
# caches what it builds. Sourced by scripts/real-bosh.sh, scripts/real-garden.sh, scripts/test-stemcell.sh
# and scripts/go-program.sh (which testkit/go-program.ts runs for the tests, the demo and the benchmarks).
# See docs/go-builds.md.
#
# The sourcing script runs under `set -euo pipefail` (a failing step of a build ends it: call these
# functions outside `||`, `&&` and `if`, which turn that off) and defines log MESSAGE, die MESSAGE
# (exit 1) and missing WHAT (exit 2: a prerequisite is missing, which the test runner prints as a skip).

# Go >= 1.26 is expected in /usr/local/go/bin (Debian's is too old for guardian); it comes first.
export PATH="/usr/local/go/bin:$PATH"

# go_require: exits 2 (missing) when there is no go command.
go_require() {
  command -v go >/dev/null 2>&1 \
    || missing "Go (the go command, looked for in /usr/local/go/bin and PATH; Debian's package is too old)"
}

# go_env COMMAND...: runs COMMAND with the Go toolchain pinned to the installed one, go.mod and go.sum
# read-only (go.sum is checked, go.mod never rewritten), no go.work, cgo off (override with
# `go_env CGO_ENABLED=1 go build ...`).
go_env() { env GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 "$@"; }

# go_build_key MODULE_DIR RECIPE [FILE...]: a cache key, 16 hex digits of SHA-256 over RECIPE (the
# caller's recipe version and options), the machine's architecture, `go version`, MODULE_DIR's go.mod
# and go.sum and the FILEs: what goes into a build, so that a change to any of it makes a new key.
go_build_key() {
  local module="$1" recipe="$2"
  shift 2
  {
    echo "$recipe arch=$(uname -m)"
    go_env go version
    cat "$module/go.mod"
    if [[ -f "$module/go.sum" ]]; then cat "$module/go.sum"; fi
    if (($#)); then cat "$@"; fi
  } | sha256sum | cut -c1-16
}

# go_package_files MODULE_DIR PACKAGE: the files (sorted, one a line) of PACKAGE and of every package
# of MODULE_DIR it imports, i.e. the sources of the build that go.mod and go.sum do not pin.
go_package_files() {
  local module="$1" package="$2" dirs dir
  dirs=$(cd "$module" && go_env go list -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' "$package") \
    || die "go list of $package in $module failed"
  while read -r dir; do
    if [[ "$dir" == "$module" || "$dir" == "$module/"* ]]; then
      find "$dir" -maxdepth 1 -type f
    fi
  done <<<"$dirs" | LC_ALL=C sort
}

# cached_build BASE KEY BUILD_FUNCTION [ARG...]: prints BASE/KEY, a directory that BUILD_FUNCTION
# filled completely, now or in an earlier call. Under an exclusive lock on BASE/.build.lock (callers in
# parallel build once), `BUILD_FUNCTION DIR ARG...` fills a fresh DIR (BASE/KEY.tmp.<pid>), which is
# then marked complete (DIR/.complete) and renamed to BASE/KEY: a killed build never leaves a BASE/KEY
# that looks finished. Temp dirs left by killed builds are removed first (holding the lock, none is
# being written).
cached_build() {
  local base="$1" key="$2" build="$3" lock
  shift 3
  mkdir -p "$base"
  exec {lock}>"$base/.build.lock"
  flock "$lock"
  local out="$base/$key"
  if [[ -f "$out/.complete" ]]; then
    log "cached build: $out"
  else
    rm -rf "$base"/*.tmp.*
    local tmp="$out.tmp.$$"
    mkdir -p "$tmp"
    "$build" "$tmp" "$@"
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
  fi
  exec {lock}>&-
  echo "$out"
}

# go_program MODULE_DIR PACKAGE: builds the main package PACKAGE (a path in the module: ./health-server,
# or . for the module itself) of the Go module at MODULE_DIR, static and stripped, into
# <repo>/.cache/go-programs/<name>/<key>/<name>, where name is the package's directory name and key
# covers go.mod, go.sum, `go version` and the files of every package of the module it imports; prints
# that path.
GO_PROGRAMS_CACHE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/go-programs"
go_program() {
  local module package="$2" name list files key
  go_require
  module=$(cd "$1" 2>/dev/null && pwd) || die "no Go module directory $1"
  [[ -f "$module/go.mod" ]] || die "$module/go.mod not found"
  name=$(cd "$module/$package" 2>/dev/null && basename "$PWD") || die "no package $package in $module"
  list=$(go_package_files "$module" "$package")
  mapfile -t files <<<"$list"
  key=$(go_build_key "$module" "program=1 flags=-trimpath,-ldflags=-s" "${files[@]}")
  cached_build "$GO_PROGRAMS_CACHE/$name" "$key" go_program_build "$module" "$package" "$name" >/dev/null
  echo "$GO_PROGRAMS_CACHE/$name/$key/$name"
}

# go_program_build DIR MODULE_DIR PACKAGE NAME (cached_build's builder for go_program).
go_program_build() {
  local dir="$1" module="$2" package="$3" name="$4"
  log "go build $package in $module"
  (cd "$module" && go_env go build -trimpath -ldflags=-s -o "$dir/$name" "$package") >&2 \
    || die "go build of $package in $module failed"
}
