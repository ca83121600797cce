#!/usr/bin/env bash
# Approve-to-allowed latency: on a real bottle (the default agent), N times:
# the agent is denied a host (a pending request), then `bottle approve ID
# --for 1h` runs; it returns once the egress has confirmed the reload that
# makes the route live, so its wall time is operator command to the
# agent's next request being allowed. Each approval is then checked from
# inside (the request is no longer denied by a missing route).
# Usage: bench/approve.sh [N, default 12]   (needs docker, compose, jq, go)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-12}
export BOTTLE_STATE_DIR=${BOTTLE_STATE_DIR:-$(mktemp -d /tmp/approvebench.XXXXXX)}
BIN=${BIN:-$BOTTLE_STATE_DIR/bottle}
CGO_ENABLED=0 go build -o "$BIN" ./cmd/bottle
export BOTTLE_IMAGE_BINARY=$BIN
SLUG=apbench-$$
"$BIN" run start name=$SLUG >/dev/null 2>&1
trap '"$BIN" run stop slug=$SLUG purge=1 >/dev/null 2>&1 || true' EXIT
for i in $(seq 1 "$N"); do
	host=h$i.apbench.invalid
	"$BIN" attach $SLUG -- /bottle fetch "http://$host/x" >/dev/null 2>&1 || true
	sleep 0.3 # requests.json is written 200 ms after a change
	id=$("$BIN" requests --json $SLUG | jq -r "select(.host==\"$host\") | .id")
	start=$(date +%s%N)
	"$BIN" approve "$id" --for 1h >/dev/null 2>&1
	end=$(date +%s%N)
	echo "$(( (end - start) / 1000000 ))"
	# from inside: no longer "not in the routes file" (the name does not resolve: 502)
	if "$BIN" attach $SLUG -- /bottle fetch "http://$host/x" 2>&1 | grep -q 'not in the routes'; then
		echo "approval $i not live" >&2
		exit 1
	fi
done | sort -n | awk '{a[NR]=$1} END {printf "approve-to-allowed ms over %d: min %d p50 %d max %d\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
