#!/usr/bin/env bash
# Engine benchmarks: bottle's Docker engine vs the docker and compose CLIs,
# interleaved round by round on this machine. Prints the Markdown tables that
# BENCHMARKS.md's "Engine" section records.
#
#     bench/engine.sh [ROUNDS]      (default 5)
#
# Part 1 (Go, engine/docker TestEngineBench): the Engine methods against the
# CLIs. Part 2: a whole `bottle run` whose recipe is one compose_up (process
# start, daemon ping and compose detection included) against `compose up -d`.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
export BOTTLE_BENCH=1 BOTTLE_BENCH_N="$rounds"
go test ./engine/docker -run '^TestEngineBench$' -count=1 -v -timeout 30m | grep -E '^(\||rounds:|--- FAIL|FAIL)' || true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# BOTTLE_BENCH_BINARY: a bottle to use instead of building the working tree.
if [ -n "${BOTTLE_BENCH_BINARY:-}" ]; then cp "$BOTTLE_BENCH_BINARY" "$tmp/bottle"; else CGO_ENABLED=0 go build -o "$tmp/bottle" ./cmd/bottle; fi
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
export BOTTLE_STATE_DIR="$tmp/state"
spec='{"services": {s: {"image": "bottle-enginetest:latest", "command": ["serve", "--name", s]} for s in ["agent", "egress"]}}'
cat >"$tmp/up.star" <<STAR
compose_up(args["slug"], $spec, state_dir(args["slug"]))
STAR
cat >"$tmp/down.star" <<STAR
compose_down(args["slug"], state_dir(args["slug"]))
STAR
cat >"$tmp/cli.yml" <<YML
services:
  agent: {image: "bottle-enginetest:latest", command: [serve, --name, agent]}
  egress: {image: "bottle-enginetest:latest", command: [serve, --name, egress]}
YML
ms() { echo $(( ($2 - $1) / 1000000 )); }
ours=() theirs=()
for i in $(seq 1 "$rounds"); do
	a=bt-bench-run-a$i b=bt-bench-run-b$i
	ours_up() { local t0 t1; t0=$(date +%s%N); "$tmp/bottle" run "$tmp/up.star" slug=$a 2>/dev/null; t1=$(date +%s%N); ours+=("$(ms $t0 $t1)"); }
	cli_up() { local t0 t1; t0=$(date +%s%N); "${compose[@]}" -p $b -f "$tmp/cli.yml" up -d 2>/dev/null; t1=$(date +%s%N); theirs+=("$(ms $t0 $t1)"); }
	if (( i % 2 )); then ours_up; cli_up; else cli_up; ours_up; fi
	"$tmp/bottle" run "$tmp/down.star" slug=$a 2>/dev/null
	"${compose[@]}" -p $b -f "$tmp/cli.yml" down 2>/dev/null
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${ours[@]}") mt=$(median "${theirs[@]}")
echo
echo "| whole \`bottle run\` of one compose_up (2 services) | ${mo} ms (runs: ${ours[*]}) | ${compose[*]} up -d: ${mt} ms (runs: ${theirs[*]}) | $(awk "BEGIN {printf \"%+.1f%%\", 100*($mo-$mt)/$mt}") |"

# The fixed cost that `bottle run` adds around compose: process start, daemon
# ping and version negotiation, compose detection (cached), one API call.
cat >"$tmp/noop.star" <<STAR
containers({"dev.bottle.instance": "bt-bench-none"})
STAR
fixed=()
for i in $(seq 1 $(( rounds * 3 ))); do
	t0=$(date +%s%N); "$tmp/bottle" run "$tmp/noop.star" 2>/dev/null; t1=$(date +%s%N)
	fixed+=("$(ms $t0 $t1)")
done
echo "| whole \`bottle run\` of one engine call (start, ping, 1 API call) | $(median "${fixed[@]}") ms (min $(printf '%s\n' "${fixed[@]}" | sort -n | head -1) ms) | - | - |"
