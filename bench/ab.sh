#!/usr/bin/env bash
# Compare two builds of urbis on a noisy machine: both servers run at once
# (an idle one costs nothing), each on a fresh data directory, and
# urbis-bench measures them in turn, A then B, ROUNDS times. Pairs taken
# seconds apart see the same machine, so compare A and B within a pair.
#
#   bench/ab.sh BIN_A BIN_B [ROUNDS=6] [PHASE=create] [SECONDS=8]
#
# BIN_A and BIN_B are urbis binaries (copy target/release/urbis aside
# before rebuilding); PHASE is an urbis-bench phase. Prints one line per
# round (A, B in req/s) and how many rounds B won.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; ROUNDS=${3:-6}; PHASE=${4:-create}; SECONDS_PER=${5:-8}
cargo build --release -q -p urbis-bench
bench=target/release/urbis-bench
dir_a=$(mktemp -d); dir_b=$(mktemp -d)
"$A" serve --http-addr 127.0.0.1:18201 --data-dir "$dir_a" >/dev/null 2>&1 & pid_a=$!
"$B" serve --http-addr 127.0.0.1:18202 --data-dir "$dir_b" >/dev/null 2>&1 & pid_b=$!
trap 'kill $pid_a $pid_b 2>/dev/null; wait $pid_a $pid_b 2>/dev/null; rm -rf "$dir_a" "$dir_b"' EXIT
sleep 1.5

rate() { # PORT -> median req/s of one run
  "$bench" --url "http://127.0.0.1:$1" --phases "$PHASE" --runs 1 --duration "$SECONDS_PER" 2>/dev/null \
    | grep -o '"median":[0-9.]*' | head -1 | cut -d: -f2
}

wins=0
echo "round  A ($A)  B ($B)  req/s, $PHASE"
for round in $(seq "$ROUNDS"); do
  a=$(rate 18201); b=$(rate 18202)
  echo "$round  $a  $b"
  if awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a) }'; then wins=$((wins + 1)); fi
done
echo "B faster in $wins of $ROUNDS rounds"
