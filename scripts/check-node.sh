#!/usr/bin/env bash
# Fails with a clear message when Node.js is missing or older than the
# version package.json's "engines" asks for.
set -euo pipefail
if ! command -v node >/dev/null 2>&1; then
  echo "error: Node.js is not installed; install Node.js 20 or newer (https://nodejs.org or NodeSource packages)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old; conntrack-exporter needs Node.js 20 or newer" >&2
  exit 1
fi
