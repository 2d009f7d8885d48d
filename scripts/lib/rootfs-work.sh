# Sourced by the scripts that make root filesystem tarballs under a cache
# directory (docker-offline-base.sh, debian-host-root.sh).

# Sets $work to a new directory under $1, removed on exit together with
# anything still mounted inside it: debootstrap and chroot steps mount /proc
# (and /sys) in the target while they work, and an interrupted run must not
# leave them mounted (or rm -rf would descend into them).
make_work_dir() {
  mkdir -p "$1"
  work=$(mktemp -d "$1/work.XXXXXX")
  trap remove_work_dir EXIT
}

remove_work_dir() {
  awk -v prefix="$work/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mountpoint; do umount -l "$mountpoint" || true; done
  rm -rf "$work"
}

# Runs a long, chatty step with its output in $work/$1.log; on failure shows
# the end of that log and exits.
run_logged() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 || {
    tail -n 30 "$work/$name.log" >&2
    exit 1
  }
}

# Packs root filesystem $1 into tarball $2, as the official images are: no
# package lists or apt caches, no resolver of the host that made it.
pack_rootfs() {
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb
  : >"$1/etc/resolv.conf"
  tar -C "$1" --numeric-owner --xattrs -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$2"
}
