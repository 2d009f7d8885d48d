#!/bin/sh
# Runs the exporter as the unprivileged user "node", keeping only
# CAP_NET_ADMIN, which reading the conntrack table needs. Docker gives a
# non-root user no capabilities of its own, so the root entrypoint passes
# that one on as an ambient capability.
set -eu
if [ "$(id -u)" = 0 ]; then
  # Bit 12 of the bounding set is CAP_NET_ADMIN: present with --cap-add=NET_ADMIN.
  bounding=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  if [ $(( 0x$bounding >> 12 & 1 )) -eq 1 ]; then
    exec setpriv --reuid=node --regid=node --init-groups \
      --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin \
      node /app/dist/cli.js "$@"
  fi
  # Without the capability the exporter itself says what is missing.
  exec setpriv --reuid=node --regid=node --init-groups node /app/dist/cli.js "$@"
fi
exec node /app/dist/cli.js "$@"
