#!/usr/bin/env bash
# HTTP benchmark of a oneM2M CSE: contentInstance CREATE, then RETRIEVE of <container>/la,
# at the given concurrency, with wrk on the same machine. Works against any CSE.
#
#   bench/http.sh [BASE_URL=http://127.0.0.1:8080] [CSE_NAME=cse-in] [SECONDS=10] [CONNECTIONS=32] [THREADS=2]
#
# Needs wrk and curl (Debian: apt-get install wrk curl). Prints one line per phase.
set -euo pipefail
BASE=${1:-http://127.0.0.1:8080}; CSE=${2:-cse-in}; SECONDS_PER_PHASE=${3:-10}; CONNS=${4:-32}; THREADS=${5:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
export ORIG="Cbench$(date +%s%N | tail -c 8)"

request() { # METHOD URL [TY BODY] -> X-M2M-RSC
  curl -s -m 10 -o /dev/null -D - -X "$1" "$2" -H "X-M2M-Origin: $ORIG" -H "X-M2M-RI: setup" -H "X-M2M-RVI: 4" \
    ${3:+-H "Content-Type: application/json;ty=$3" -d "$4"} | tr -d '\r' | awk -F': ' 'tolower($1)=="x-m2m-rsc"{print $2}'
}

rsc=$(request POST "$BASE/$CSE" 2 "{\"m2m:ae\":{\"rn\":\"$ORIG\",\"api\":\"Nbench\",\"rr\":false,\"srv\":[\"4\"]}}")
[ "$rsc" = 2001 ] || { echo "AE registration failed (rsc=$rsc)" >&2; exit 1; }
trap 'request DELETE "$BASE/$CSE/$ORIG" >/dev/null' EXIT
rsc=$(request POST "$BASE/$CSE/$ORIG" 3 '{"m2m:cnt":{"rn":"bench"}}')
[ "$rsc" = 2001 ] || { echo "container creation failed (rsc=$rsc)" >&2; exit 1; }

MODE=create wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_PHASE}s" --timeout 10s -s "$HERE/onem2m.lua" "$BASE/$CSE/$ORIG/bench" | grep -E '^create:'
MODE=retrieve wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_PHASE}s" --timeout 10s -s "$HERE/onem2m.lua" "$BASE/$CSE/$ORIG/bench/la" | grep -E '^retrieve:'
