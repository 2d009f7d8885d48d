#!/bin/sh
# The image's entrypoint. Runs the exporter (all arguments are its options),
# or with `enable-tracking` turns on connection tracking in the container's
# network namespace (for a sidecar's init container: a pod's own namespace
# has no firewall rule that would do it).
#
# Both need CAP_NET_ADMIN, and run as the image's unprivileged user. Docker
# (--cap-add=NET_ADMIN) and Kubernetes (capabilities.add: [NET_ADMIN]) only
# put the capability into the bounding set of a non-root process. The image's
# copy of setpriv holds it as a permitted file capability, so running it
# picks the capability up (only if the bounding set has it) and passes it on
# as an ambient capability. Nothing else is gained.
set -eu
setpriv=/usr/local/libexec/conntrack-exporter/setpriv

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

if [ "${1:-}" = enable-tracking ]; then
  with_net_admin nft -f /usr/local/share/conntrack-exporter/tracking.nft
fi
with_net_admin node /app/dist/cli.js "$@"
