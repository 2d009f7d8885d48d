#!/usr/bin/env bash
# Builds the prebuilt addons the npm package carries, in the layout of
# prebuildify that node-gyp-build loads: prebuilds/linux-<arch>/node.napi.glibc.node.
# One N-API binary serves every Node line. x64 is built with the host's g++,
# arm64 with Debian's cross compiler against the arm64 libnetfilter-conntrack-dev
# (dpkg --add-architecture arm64; apt-get install g++-aarch64-linux-gnu
# libnetfilter-conntrack-dev:arm64 libmnl-dev:arm64).
#
# binding.gyp's prebuild=1 links libstdc++ statically and replaces the one
# glibc 2.32 function the sources call, so the binaries need glibc 2.31 or
# newer (test/unit/prebuilds.test.ts checks the symbol versions).
#
# Each architecture builds in its own copy of binding.gyp and native/ under
# build-prebuild/, so the development build in build/ is left alone.
#
# Usage: scripts/prebuild.sh [x64|arm64]...   (default: both)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x64 arm64)

for arch in "${arches[@]}"; do
  case $arch in
    x64) triplet=x86_64-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu ;;
    *)
      echo "error: no prebuilt addon for $arch (x64 and arm64 only)" >&2
      exit 2
      ;;
  esac
  if ! command -v "$triplet-g++" >/dev/null; then
    echo "error: $triplet-g++ not found; apt-get install g++-$triplet" >&2
    exit 1
  fi
  pkgconfig=/usr/lib/$triplet/pkgconfig
  if [ ! -f "$pkgconfig/libnetfilter_conntrack.pc" ] || [ ! -f "$pkgconfig/libmnl.pc" ]; then
    echo "error: no $arch libnetfilter_conntrack or libmnl headers; apt-get install libnetfilter-conntrack-dev:$arch libmnl-dev:$arch" >&2
    exit 1
  fi
  work=build-prebuild/$arch
  rm -rf "$work"
  mkdir -p "$work/scripts"
  cp -r binding.gyp native "$work/"
  cp scripts/addon-api-dir.mjs "$work/scripts/"
  (
    cd "$work"
    export CC=$triplet-gcc CXX=$triplet-g++ LINK=$triplet-g++ AR=$triplet-ar
    export PKG_CONFIG_LIBDIR=$pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH=
    export GYP_DEFINES=prebuild=1
    npx --no-install node-gyp rebuild --arch="$arch" >build.log 2>&1 || {
      tail -n 40 build.log >&2
      exit 1
    }
  )
  mkdir -p "prebuilds/linux-$arch"
  "$triplet-strip" --strip-unneeded -o "prebuilds/linux-$arch/node.napi.glibc.node" \
    "$work/build/Release/conntrack.node"
  echo "prebuilds/linux-$arch/node.napi.glibc.node"
done
