#!/usr/bin/env bash
# Builds the addon with AddressSanitizer, LeakSanitizer and UBSan into
# build-asan/ (the normal build is untouched), runs
# test/native/memcheck-driver.ts with it inside a throwaway network
# namespace (a real dump, event stream and statistics read; every failure
# path without CAP_NET_ADMIN; the proxy's relay through a few hundred connections ended
# every way, test/native/memcheck-relay.ts), and fails on any invalid
# access, undefined behaviour, or leak whose stack passes through our code
# or the netfilter libraries it calls. Node and V8 are not instrumented and leave memory behind at exit
# by design: those leaks are counted, not failed on.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=build-asan
mkdir -p "$out"
libasan=$(g++ -print-file-name=libasan.so)
node_include="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$node_include/node_api.h" ] || node_include=$(node -p "require('path').join(process.execPath, '../../include/node')")

echo "memcheck: building the addon with -fsanitize=address,undefined"
g++ -shared -fPIC -std=c++17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -D_GLIBCXX_SANITIZE_VECTOR -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -D_GNU_SOURCE \
  -DLIBNETFILTER_CONNTRACK_VERSION="\"$(pkg-config --modversion libnetfilter_conntrack)\"" \
  -I"$node_include" -I"$(node -p "require('node-addon-api').include_dir")" \
  $(pkg-config --cflags libnetfilter_conntrack libmnl) \
  native/*.cc native/conntrack/*.cc native/relay/*.cc -o "$out/conntrack.node" $(pkg-config --libs libnetfilter_conntrack libmnl)

ns="ctmem-$$"
logs=$(mktemp -d)
# The "denied" run is uid 65534 and writes its report here too.
chmod 1777 "$logs"
cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  [ -n "${MEMCHECK_KEEP_LOGS:-}" ] && echo "memcheck: logs kept in $logs" || rm -rf "$logs"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" nft 'add table inet t; add chain inet t out { type filter hook output priority 0; }; add rule inet t out ct state established counter'

run() {
  local name=$1
  shift
  # Leaks are judged below, not by LSan's exit code; invalid accesses and
  # UB abort the driver at once.
  ASAN_OPTIONS="detect_leaks=1:leak_check_at_exit=1:exitcode=0:log_path=$logs/$name:abort_on_error=0:halt_on_error=1:detect_odr_violation=0" \
    LSAN_OPTIONS="exitcode=0:report_objects=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/$name" \
    LD_PRELOAD="$libasan" \
    ip netns exec "$ns" "$@" node --expose-gc --require "$(node -p "require.resolve('tsx/cjs')")" \
    test/native/memcheck-driver.ts "$PWD/$out/conntrack.node" "$name"
}

status=0
run full || { echo "memcheck: the driver failed (full)"; status=1; }
run relay || { echo "memcheck: the driver failed (relay)"; status=1; }
run denied setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  || { echo "memcheck: the driver failed (denied)"; status=1; }

# One report per process: the driver, and tsx's helpers if any.
shopt -s nullglob
reports=("$logs"/*)
ours='conntrack\.node|/native/|libnetfilter_conntrack|libnfnetlink|libmnl'
for report in "${reports[@]}"; do
  if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$report"; then
    echo "memcheck: invalid access or undefined behaviour ($report):"
    cat "$report"
    status=1
  fi
  # A leak report is blocks of "Direct/Indirect leak of N byte(s)" and their stack.
  awk -v ours="$ours" '
    /^(Direct|Indirect) leak of/ { if (block != "" && block ~ ours) print block; block = $0; next }
    /^SUMMARY:/ { if (block != "" && block ~ ours) print block; block = ""; next }
    block != "" { block = block "\n" $0 }
    END { if (block != "" && block ~ ours) print block }
  ' "$report" >"$report.ours"
  if [ -s "$report.ours" ]; then
    echo "memcheck: leaks through the addon ($report):"
    cat "$report.ours"
    status=1
  fi
  other=$(grep -cE '^(Direct|Indirect) leak of' "$report" || true)
  echo "memcheck: $(basename "$report"): ${other} leak records in all, none through the addon unless listed above"
done
[ "$status" -eq 0 ] && echo "memcheck: passed: no invalid access, no undefined behaviour, no leak in the addon"
exit "$status"
