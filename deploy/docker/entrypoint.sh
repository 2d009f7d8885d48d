#!/bin/sh
# The image's entrypoint. Its first argument may name:
# - one of the package's commands (package.json "bin", linked in /app/bin
#   when the image is built): conntrack-exporter, conntrack_exporter,
#   tcp_established_exporter, tcp-metrics-proxy; that command runs with the
#   other arguments, e.g. `IMAGE tcp_established_exporter --simple=true`;
# - `enable-tracking`: turns on connection tracking in the container's
#   network namespace (for a sidecar's init container: a pod's own namespace
#   has no firewall rule that would do it).
# Anything else (options, or nothing) runs the exporter with all arguments
# as its options.
#
# Every one runs as the image's unprivileged user, with CAP_NET_ADMIN where
# the container is given it (all but the proxy need it). Docker
# (--cap-add=NET_ADMIN) and Kubernetes (capabilities.add: [NET_ADMIN]) only
# put the capability into the bounding set of a non-root process. The image's
# copy of setpriv holds it as a permitted file capability, so running it
# picks the capability up (only if the bounding set has it) and passes it on
# as an ambient capability. Nothing else is gained.
set -eu
setpriv=/usr/local/libexec/conntrack-exporter/setpriv
app=/app

field() { awk -v key="$1:" '$1 == key { print $2 }' /proc/self/status; }

with_net_admin() {
  if [ "$(id -u)" != 0 ] && [ $((0x$(field CapBnd) >> 12 & 1)) -eq 1 ]; then
    if [ "$(field NoNewPrivs)" = 0 ]; then
      exec "$setpriv" --inh-caps=+net_admin --ambient-caps=+net_admin -- "$@"
    fi
    # no_new_privs makes the kernel ignore file capabilities.
    echo "conntrack-exporter: no-new-privileges is set, so CAP_NET_ADMIN cannot be handed on;" \
      "drop --security-opt=no-new-privileges (Kubernetes: allowPrivilegeEscalation: true)" >&2
  fi
  # Root holds what it was given already. Without the capability the
  # exporter says what is missing (--help and --version work regardless).
  exec "$@"
}

case "${1:-}" in
  enable-tracking)
    with_net_admin nft -f /usr/local/share/conntrack-exporter/tracking.nft
    ;;
  # Options, and names that could reach outside /app/bin.
  '' | -* | */* | .*) ;;
  *)
    if [ -e "$app/bin/$1" ]; then
      command=$1
      shift
      # Run by its link, so that the program knows the name it was called by.
      with_net_admin node "$app/bin/$command" "$@"
    fi
    ;;
esac
with_net_admin node "$app/dist/cli.js" "$@"
