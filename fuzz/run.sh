#!/usr/bin/env bash
# fuzz/run.sh SECONDS [TARGET...]: build the fuzz targets, then run each (all
# by default) for SECONDS (or until FUZZ_RUNS executions, if set, whichever
# comes first), starting from the seed corpus in fuzz/corpus/.
# New inputs go to a scratch corpus (FUZZ_WORK, default /tmp/urbis-fuzz), so
# the committed seeds stay small; a crash is written to fuzz/artifacts/TARGET/
# and fails the run. Needs cargo-fuzz (cargo install cargo-fuzz). Only a stable
# toolchain is assumed: RUSTC_BOOTSTRAP=1 admits cargo-fuzz's -Z flags.
# No sanitizer: the code under test is safe Rust, so the bugs to find are
# panics (with debug assertions on: overflow, bounds), hangs and blow-ups.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
all=(json cbor xml primitive http_request mqtt_topic coap_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
work=${FUZZ_WORK:-/tmp/urbis-fuzz}
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions)
limits=(-max_total_time="$seconds")
[ -n "${FUZZ_RUNS:-}" ] && limits+=(-runs="$FUZZ_RUNS")

cargo fuzz build "${flags[@]}"
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "artifacts/$target"
  log="$work/$target.log"
  echo "== fuzz $target for ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}"
  if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
      "${limits[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz $target FAILED: see fuzz/artifacts/$target/ and $log" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo '?')
  echo "   $target: $runs executions in ${secs}s, no crash"
done
