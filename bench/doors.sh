#!/usr/bin/env bash
# contentInstance CREATE through every door of one Urbis, in one run:
# HTTP (wrk, 32 connections), MQTT QoS 0 and 1 (32 in flight, through the
# broker), CoAP CON and NON (32 in flight). Durable store in a fresh directory.
#
#   bench/doors.sh [MQTT_URL=mqtt://127.0.0.1:1883] [SECONDS=10] [RUNS=3]
#
# Needs wrk, curl and a broker. Prints one line per measurement; run it on a
# quiet machine (the load generators share the cores with the server).
set -euo pipefail
cd "$(dirname "$0")/.."
MQTT=${1:-mqtt://127.0.0.1:1883}; SECONDS_PER=${2:-10}; RUNS=${3:-3}
cargo build --release -q -p urbis-cli -p urbis-mqtt -p urbis-coap --example mqtt_load --example coap_load
data=$(mktemp -d)
cse_id="/id-bench$$"
URBIS_CSE_CSE_ID=$cse_id URBIS_LOG_LEVEL=warn target/release/urbis serve --data-dir "$data" \
  --http-addr 127.0.0.1:18080 --mqtt-url "$MQTT" --coap-addr 127.0.0.1:15683 > "$data/serve.log" 2>&1 &
server=$!
trap 'kill $server; wait $server 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
for run in $(seq "$RUNS"); do
  echo "== run $run"
  bench/http.sh http://127.0.0.1:18080 cse-in "$SECONDS_PER" 32 2 | grep create
  for qos in 0 1; do
    target/release/examples/mqtt_load --url "$MQTT" --cse "${cse_id#/}" --qos $qos --inflight 32 --seconds "$SECONDS_PER"
  done
  for type in con non; do
    target/release/examples/coap_load --addr 127.0.0.1:15683 --type $type --inflight 32 --seconds "$SECONDS_PER"
  done
done
