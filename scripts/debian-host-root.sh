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
base=$("$root_dir/scripts/docker-offline-base.sh" node)
cache_dir=$root_dir/.cache/host
tarball=$cache_dir/$(basename "$base" .tar)-host-v$LAYOUT.tar

if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi

mkdir -p "$cache_dir"
work=$(mktemp -d "$cache_dir/work.XXXXXX")
cleanup() {
  awk -v prefix="$work/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mountpoint; do umount -l "$mountpoint" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner -xf "$base"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
echo "host root: apt-get install libnetfilter-conntrack3 systemd in $rootfs" >&2
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive sh -c \
  'apt-get update -qq && apt-get install -y -qq --no-install-recommends libnetfilter-conntrack3 systemd systemd-sysv dbus' \
  >"$work/apt.log" 2>&1 || {
  tail -n 30 "$work/apt.log" >&2
  exit 1
}
umount "$rootfs/proc"
for tool in cc gcc g++ make python3 pkg-config; do
  if chroot "$rootfs" sh -c "command -v $tool" >/dev/null; then
    echo "error: $tool came with the host root's packages" >&2
    exit 1
  fi
done
echo conntrack-host >"$rootfs/etc/hostname"
rm -rf "$rootfs"/var/lib/apt/lists/*
: >"$rootfs/etc/resolv.conf"
tar -C "$rootfs" --numeric-owner --xattrs -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$tarball"
echo "$tarball"
