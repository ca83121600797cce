#!/usr/bin/env bash
# Engine benchmarks: bottle's Docker engine vs the docker and compose CLIs,
# interleaved round by round on this machine. Prints the Markdown table that
# BENCHMARKS.md's "Engine" section records.
#
#     bench/engine.sh [ROUNDS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export BOTTLE_BENCH=1 BOTTLE_BENCH_N="${1:-5}"
go test ./engine/docker -run '^TestEngineBench$' -count=1 -v -timeout 30m | grep -E '^(\||rounds:|---|ok|FAIL)|bench'
