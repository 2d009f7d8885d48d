#!/usr/bin/env bash
# Makes the root filesystem of a bare Debian bookworm server for the install
# tests: the offline base of the Docker test (scripts/docker-offline-base.sh:
# debootstrap minbase plus Node and npm in /usr/local) with only what such a
# host has besides: libnetfilter-conntrack3, and systemd to boot it as a
# container (systemd-nspawn --boot). No compiler, make, python3, pkg-config
# or -dev package: an npm install there cannot build anything.
#
# Prints the path of a tarball of that root, cached under .cache/host/ (by
# the base it is made from), so only the first run pays (a few minutes).
#
# Usage: scripts/debian-host-root.sh
set -euo pipefail

# Bump when the content made below changes, so old caches are not reused.
LAYOUT=1
root_dir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/rootfs-work.sh
. "$root_dir/scripts/lib/rootfs-work.sh"
base=$("$root_dir/scripts/docker-offline-base.sh" node)
cache_dir=$root_dir/.cache/host
tarball=$cache_dir/$(basename "$base" .tar)-host-v$LAYOUT.tar

if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi

make_work_dir "$cache_dir"

rootfs=$work/rootfs
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner -xf "$base"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
echo "host root: apt-get install libnetfilter-conntrack3 systemd in $rootfs" >&2
run_logged apt chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive sh -c \
  'apt-get update -qq && apt-get install -y -qq --no-install-recommends libnetfilter-conntrack3 systemd systemd-sysv dbus'
umount "$rootfs/proc"
for tool in cc gcc g++ make python3 pkg-config; do
  if chroot "$rootfs" sh -c "command -v $tool" >/dev/null; then
    echo "error: $tool came with the host root's packages" >&2
    exit 1
  fi
done
echo conntrack-host >"$rootfs/etc/hostname"
pack_rootfs "$rootfs" "$tarball"
echo "$tarball"
