#!/usr/bin/env bash
# Prints the bin directory of an official Node.js build of the given
# version and architecture, taken from the npm registry's node-linux-<arch>
# package (the only source of Node builds the tests use) and cached under
# .cache/node/, so only the first run downloads it (about 30 MB).
#
# Usage: scripts/node-line.sh x64|arm64 VERSION
set -euo pipefail

arch=${1:?usage: scripts/node-line.sh x64|arm64 VERSION}
version=${2:?usage: scripts/node-line.sh x64|arm64 VERSION}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.cache/node/$arch-$version

if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$root/.cache"
  work=$(mktemp -d "$root/.cache/node-line.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # npm pack, not npm install: the package is for one architecture, and
  # installing arm64's on an x64 host is refused (EBADPLATFORM).
  (cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null) || {
    echo "error: node-linux-$arch@$version not found in the npm registry (npm view node-linux-$arch versions)" >&2
    exit 1
  }
  mkdir -p "$work/node"
  tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$work/node" --strip-components=1 package/bin
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  mv "$work/node" "$dir"
fi
echo "$dir/bin"
