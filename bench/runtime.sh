#!/usr/bin/env bash
# bench/runtime.sh: what gVisor costs a bottle's bring-up and teardown: the
# bottle of the bottle image (agent `bottle idle`, egress, no routes) started
# and stopped with agent.runtime runc and runsc,
# interleaved (runc, runsc, runc, ...) so both see the same load; and, with
# compose out of the way, one container of the bottle image (`bottle idle`)
# run until it says "idle: ready" and removed, under each runtime.
#
#   bench/runtime.sh [RUNS]      (default 7 of each)
#
# Prints one line per measurement ("start_runc MS", "stop_runsc MS", ...) and
# the median and p95 of each at the end; raw lines go to
# bench/out/runtime-<time>.txt. Needs a daemon that lists runsc, compose, and
# a static bottle ($BOTTLE, else built into bench/out/bottle).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
mkdir -p bench/out
OUT=bench/out/runtime-$(date +%Y%m%d-%H%M%S).txt
if [ -z "${BOTTLE:-}" ]; then
	CGO_ENABLED=0 go build -o bench/out/bottle ./cmd/bottle
	BOTTLE=$PWD/bench/out/bottle
fi
export BOTTLE_IMAGE_BINARY=$BOTTLE
docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' || { echo "the daemon lists no runsc" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bottle-bench.XXXXXX)
export BOTTLE_STATE_DIR=$WORK/state
trap 'rm -rf "$WORK"' EXIT
# The agent is the bottle image running `bottle idle`, named in the manifest
# (the default agent image would add its own build to the first start).
printf 'print(bottle_image())\n' >"$WORK/img.star"
IMAGE=$("$BOTTLE" run "$WORK/img.star" 2>/dev/null)
for rt in runc runsc; do
	printf 'agent:\n  image: %s\n  command: [idle]\n  runtime: %s\n' "$IMAGE" "$rt" >"$WORK/$rt.yaml"
done

now() { date +%s%N; }
record() { echo "$1 $2" | tee -a "$OUT"; }
# quiet CMD...: runs CMD, showing its output only when it fails.
quiet() { "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; return 1; }; }

for i in $(seq 1 "$RUNS"); do
	for rt in runc runsc; do
		slug=bench-rt-$$-$rt
		t0=$(now)
		quiet "$BOTTLE" run recipes/start.star name=$slug manifest="$WORK/$rt.yaml"
		t1=$(now)
		quiet "$BOTTLE" run recipes/stop.star slug=$slug purge=1
		t2=$(now)
		record start_$rt $(((t1 - t0) / 1000000))
		record stop_$rt $(((t2 - t1) / 1000000))
	done
done

for i in $(seq 1 "$RUNS"); do
	for rt in runc runsc; do
		t0=$(now)
		c=$(docker run -d --runtime "$rt" --network none "$IMAGE" idle)
		until docker logs "$c" 2>&1 | grep -q 'idle: ready'; do sleep 0.01; done
		t1=$(now)
		docker rm -f "$c" >/dev/null
		t2=$(now)
		record run_$rt $(((t1 - t0) / 1000000))
		record rm_$rt $(((t2 - t1) / 1000000))
	done
done

echo "--- median / p95 (ms) over $RUNS runs, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for key in start_runc start_runsc stop_runc stop_runsc run_runc run_runsc rm_runc rm_runsc; do
	sort -n <(awk -v k=$key '$1 == k {print $2}' "$OUT") | awk -v k=$key '
		{ v[NR] = $1 }
		END { p95 = int(NR * 0.95 + 0.999); printf "%-12s median %6d  p95 %6d\n", k, v[int((NR + 1) / 2)], v[p95] }'
done
