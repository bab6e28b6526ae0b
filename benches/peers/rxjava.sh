#!/usr/bin/env bash
# Runs the issue-14 workloads in rstreams (criterion, short settings) and in RxJava 3, and prints
# them side by side in ns per item. Optional; not part of CI.
#
#   benches/peers/rxjava.sh                 # both sides (RxJava only if its jars are found)
#   RXJAVA_JAR=/path/rxjava-3.x.jar RS_JAR=/path/reactive-streams-1.0.4.jar benches/peers/rxjava.sh
#   SKIP_RSTREAMS=1 benches/peers/rxjava.sh # RxJava side only (reuses target/criterion results)
#
# RxJava needs `java` and `javac` (JDK 11+), the RxJava 3 jar and the Reactive Streams API jar.
# Without RXJAVA_JAR/RS_JAR the script looks in /usr/share/java (Debian's packaging place); when
# no jar is found it says so and prints the rstreams column alone.
#
# Settings: CRITERION_ARGS (default "--warm-up-time 1 --measurement-time 3"); RX_WARMUP and
# RX_ROUNDS (default 2 and 3: the median of 3 timed rounds after 2 untimed ones).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
crit_args=${CRITERION_ARGS:-"--warm-up-time 1 --measurement-time 3"}

# id | criterion result directory (group/function, "/" in a group name becomes "_") | items per iteration | RxJava shape
workloads=(
  "hop|hop_1e7/subscribe_on_publish_on_256|10000000|rangeLong.subscribeOn(computation).observeOn(computation, 256)"
  "flat_map_sync|flat_map_1000x1000_c16/rstreams_sync_inners|1000000|flatMap(rangeLong(0,1000), 16, 256)"
  "flat_map_pool|flat_map_1000x1000_c16/rstreams_pool_inners|1000000|flatMap(inner.subscribeOn(computation), 16, 256)"
  "blocking_iter_sync|blocking_iter/blocking_iter_256|1000000|rangeLong.blockingIterable(256)"
  "blocking_iter_thread|blocking_iter/subscribe_on_blocking_iter_256|1000000|rangeLong.subscribeOn(computation).blockingIterable(256)"
  "map_filter_unbounded|operators_unbounded/pipeline|10000000|rangeLong.map.filter, request(MAX)"
  "map_filter_batched|operators_batched_256_192/pipeline|10000000|rangeLong.map.filter, request 256 then 192"
)

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -z ${SKIP_RSTREAMS:-} ]]; then
  for bench in hop concurrency operators; do
    # shellcheck disable=SC2086 # the criterion arguments are meant to split
    cargo bench -p rstreams-benches --bench "$bench" -- $crit_args >/dev/null
  done
fi

# The criterion median of one benchmark, in ns per item ("-" if it has not been run).
rstreams_ns() {
  local file="target/criterion/$1/new/estimates.json"
  [[ -f $file ]] || { echo "-"; return; }
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print("%.3f" % (e["median"]["point_estimate"] / int(sys.argv[2])))' "$file" "$2"
}

find_jar() {
  local pattern=$1
  compgen -G "/usr/share/java/$pattern" | head -n1 || true
}
rx_jar=${RXJAVA_JAR:-$(find_jar 'rxjava*3*.jar')}
rs_jar=${RS_JAR:-$(find_jar 'reactive-streams*.jar')}

declare -A rx=()
if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
  echo "RxJava column skipped: java/javac not found."
elif [[ -z $rx_jar || ! -f $rx_jar || -z $rs_jar || ! -f $rs_jar ]]; then
  echo "RxJava column skipped: no RxJava 3 jar and Reactive Streams jar found."
  echo "  Supply them: RXJAVA_JAR=/path/rxjava-3.x.y.jar RS_JAR=/path/reactive-streams-1.0.4.jar $0"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  cp="$rx_jar:$rs_jar"
  javac -d "$out" -cp "$cp" benches/peers/java/RxBench.java
  while read -r id ns; do
    rx[$id]=$ns
  done < <(java -Dwarmup="${RX_WARMUP:-2}" -Drounds="${RX_ROUNDS:-3}" -cp "$out:$cp" RxBench)
  echo "RxJava: $rx_jar"
fi

printf '\n%-22s %12s %12s %9s  %s\n' workload "rstreams ns" "RxJava ns" "Rx/rs" "RxJava shape"
for w in "${workloads[@]}"; do
  IFS='|' read -r id bench items shape <<<"$w"
  rs=$(rstreams_ns "$bench" "$items")
  rj=${rx[$id]:--}
  ratio=-
  if [[ $rs != - && $rj != - ]]; then
    ratio=$(python3 -c 'import sys; print("%.2fx" % (float(sys.argv[2]) / float(sys.argv[1])))' "$rs" "$rj")
  fi
  printf '%-22s %12s %12s %9s  %s\n' "$id" "$rs" "$rj" "$ratio" "$shape"
done
echo
echo "Rx/rs above 1 means rstreams is faster. Criterion medians; RxJava: median of ${RX_ROUNDS:-3} rounds."
