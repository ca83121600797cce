#!/usr/bin/env bash
# bench/pipelock.sh: allowlist_apply.star by reload (SIGHUP, wait for
# pipelock's config_reload line) against by restart (docker restart, wait for
# its ready line), end to end (process start to change confirmed), on this
# machine's daemon, with the pipelock stand-in (testdata/images/pipelock).
#
#   bench/pipelock.sh [APPLIES]      (default 20 of each, add=/remove= alternating)
#
# Prints one line per apply and p50/p95 of each mode; the raw lines go to
# bench/out/pipelock-<time>.txt. Needs a daemon and docker-compose (v1) or
# docker compose (v2); builds bottle and the test images.
set -euo pipefail
cd "$(dirname "$0")/.."
APPLIES=${1:-20}
mkdir -p bench/out
OUT=bench/out/pipelock-$(date +%Y%m%d-%H%M%S).txt
CGO_ENABLED=0 go build -o bench/out/bottle ./cmd/bottle
BOTTLE=$PWD/bench/out/bottle
export BOTTLE_IMAGE_BINARY=$BOTTLE

WORK=$(mktemp -d /tmp/bottle-bench-pipelock.XXXXXX)
export BOTTLE_STATE_DIR=$WORK/state
SLUG=benchpl-$$
trap '"$BOTTLE" run recipes/stop.star slug=$SLUG >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

sh testdata/images/build.sh "$WORK/img"
"$BOTTLE" run testdata/images/build.star out="$WORK/img" >/dev/null
cat >"$WORK/bench.yaml" <<YAML
agent:
  image: bottle-test/probe:dev
  command: ["serve"]
pipelock:
  enabled: true
  image: bottle-test/pipelock:dev
  api_allowlist: [a.example.com]
YAML
# Sets pipelock.reload as start records it in metadata.json.
cat >"$WORK/mode.star" <<'STAR'
path = state_root() + "/" + args["slug"] + "/metadata.json"
meta = json.decode(read(path))
meta["pipelock_reload"] = args["mode"]
write_inplace(path, json.encode(meta))
STAR
"$BOTTLE" run recipes/start.star name=$SLUG manifest="$WORK/bench.yaml" >/dev/null

now() { date +%s%N; }
for mode in signal restart; do
	"$BOTTLE" run "$WORK/mode.star" slug=$SLUG mode=$mode >/dev/null
	for i in $(seq 1 "$APPLIES"); do
		if [ $((i % 2)) = 1 ]; then change=add; else change=remove; fi
		t0=$(now)
		"$BOTTLE" run recipes/allowlist_apply.star slug=$SLUG $change=b.example.com >"$WORK/apply.out" 2>"$WORK/apply.err"
		t1=$(now)
		grep -q 'by reload\|by restart' "$WORK/apply.out"
		echo "$mode $(( (t1 - t0) / 1000000 ))" | tee -a "$OUT"
	done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
for mode in signal restart; do
	grep "^$mode " "$OUT" | cut -d' ' -f2 | sort -n | awk -v m=$mode \
		'{v[NR]=$1} END {printf "%s: n=%d p50=%d ms p95=%d ms\n", m, NR, v[int((NR+1)/2)], v[int(NR*0.95+0.5)]}' | tee -a "$OUT"
done
