#!/bin/sh
# What net.netfilter.nf_conntrack_events=1 costs the kernel against the
# default 2 when nobody listens to events (no exporter running yet), in a
# network namespace of its own for each setting in turn:
# - refused: COUNT real TCP connects over loopback to a port where nobody
#   listens (SYN, reset: a new tracked connection and a state change each),
#   the CPU of the connecting process, in whose context the kernel handles
#   loopback packets;
# - create, destroy: COUNT entries made and removed through ctnetlink
#   (conntrack-fill), where the kernel does the work inside sendmsg().
# Under 1 the kernel gives every new entry its event extension even without a
# listener (under 2 only while one listens) and notes each change for delivery.
#
#   make bench-events-setting          (or: bench/conntrack/events-setting.sh [COUNT] [ROUNDS])
#
# COUNT defaults to 100000, ROUNDS (2 then 1 in each) to 1. Prints the CPU
# time (task-clock) of each step. Root only; the host's own table and
# settings are not touched (nf_conntrack_max, which is global, must exceed
# COUNT).
set -eu
count=${1:-100000}
rounds=${2:-1}
fill=.bench/conntrack-fill
refused=.bench/conntrack-refused
ns=cte-events-setting-$$
for program in "$fill" "$refused"; do
  [ -x "$program" ] || {
    echo "events-setting: $program is missing; run make bench-events-setting" >&2
    exit 2
  }
done
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The CPU milliseconds (task-clock) of one command run in the namespace.
cpu_ms() {
  ip netns exec "$ns" perf stat -x, -e task-clock -o "/tmp/$ns.perf" "$@" >"/tmp/$ns.out"
  if grep -q '"failed":[1-9]\|"other":[1-9]' "/tmp/$ns.out"; then
    echo "events-setting: $* failed: $(cat "/tmp/$ns.out")" >&2
    exit 1
  fi
  grep -E '^[0-9.]+,' "/tmp/$ns.perf" | cut -d, -f1 | cut -d. -f1
  rm -f "/tmp/$ns.perf" "/tmp/$ns.out"
}

round=1
while [ "$round" -le "$rounds" ]; do
  for setting in 2 1; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Tracking on, as any ct rule turns it on; the sysctls are the namespace's own.
    ip netns exec "$ns" nft 'add table inet t; add chain inet t out { type filter hook output priority 0; }; add rule inet t out ct state new counter'
    ip netns exec "$ns" sysctl -q -w "net.netfilter.nf_conntrack_events=$setting" \
      net.ipv4.ip_local_port_range="1024 65535"
    refused_ms=$(cpu_ms "$refused" "$count" 9)
    tracked=$(ip netns exec "$ns" conntrack -C)
    ip netns exec "$ns" conntrack -F 2>/dev/null
    created_ms=$(cpu_ms "$fill" create "$count" --hosts 1000)
    destroyed_ms=$(cpu_ms "$fill" destroy "$count" --hosts 1000)
    echo "nf_conntrack_events=$setting round $round: $count refused connects ${refused_ms} ms" \
      "($tracked left in the table); $count entries created ${created_ms} ms, destroyed ${destroyed_ms} ms"
    ip netns del "$ns"
  done
  round=$((round + 1))
done
