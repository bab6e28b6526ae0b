#!/usr/bin/env bash
# Instructions per item of the synchronous paths (benches/examples/sync_paths.rs), counted by
# cachegrind: a figure a loaded machine does not disturb, beside criterion's times. Each
# workload runs at 10^6 and 2*10^6 items; the difference divided by 10^6 is the per-item count
# (set-up and tear-down cancel out). Optional; not part of CI; needs valgrind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v valgrind >/dev/null || { echo "valgrind not found"; exit 1; }
cargo build --release -q -p rstreams-benches --example sync_paths
bin=target/release/examples/sync_paths

count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 |
    awk '/I *refs/ { gsub(",", "", $NF); print $NF }'
}

printf '%-28s %s\n' workload "instructions/item"
for w in plain range pipeline pipeline_staged "plain batched" "pipeline batched" \
  "pipeline_staged batched" iter_plain iter iter_subscribed; do
  read -r name mode <<<"$w"
  a=$(count "$name" 1000000 ${mode:+"$mode"})
  b=$(count "$name" 2000000 ${mode:+"$mode"})
  printf '%-28s %s\n' "$w" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')"
done
