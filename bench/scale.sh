#!/usr/bin/env bash
# bench/scale.sh: N default bottles on this machine's daemon (issue 17).
#
#   bench/scale.sh [N] [BATCH]      (defaults: 200 bottles, 8 starts at once)
#
# Starts N default bottles (`bottle run start name=...`, the agent under
# runsc when the daemon has it), in batches of BATCH at once; at n = 1, 50,
# 100, 150 and 200 (those of them <= N, and N) three starts run alone and
# are timed (at n = 1 the first two are stopped again): the per-start time
# there is their median. At n = 50, with a chromium installed, BenchmarkUI
# (cmd/bottle) measures bottle ui over the 50 running bottles. With all N up it
# times `bottle ls` (median of 5) and checks it lists every bottle running,
# measures the host's memory against before (MemTotal - MemAvailable, and
# dockerd's and containerd's RSS), the egresses' VmRSS, and what one bottle's
# processes hold (each container's shim and what runs under it). Then
# it stops and purges every bottle in batches (timed), runs cleanup, and
# counts what is left: containers and networks labelled with this run's state
# root, and state dirs. Leftovers make it exit 1.
#
# The EXIT trap stops, purges and sweeps whatever this run made however it
# ends (a failed start, ^C): only objects labelled dev.bottle.state=<this
# run's state root>/..., by id. Raw lines go to bench/out/scale-<time>.txt.
# Needs a daemon, compose, and a static bottle ($BOTTLE, else built into
# bench/out/bottle).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
BATCH=${2:-8}
mkdir -p bench/out
OUT=$PWD/bench/out/scale-$(date +%Y%m%d-%H%M%S).txt
if [ -z "${BOTTLE:-}" ]; then
	CGO_ENABLED=0 go build -o bench/out/bottle ./cmd/bottle
	BOTTLE=$PWD/bench/out/bottle
fi
export BOTTLE_IMAGE_BINARY=$BOTTLE
# BenchmarkUI runs over the bottles at n=50 when there is a Chromium.
UI_TEST=
if command -v chromium >/dev/null; then
	go test -c -o bench/out/cmd-bottle.test ./cmd/bottle && UI_TEST=$PWD/bench/out/cmd-bottle.test
fi
WORK=$(mktemp -d /tmp/bottle-scale.XXXXXX)
export BOTTLE_STATE_DIR=$WORK/state
RUN=sc$$ # bottle names: $RUN-001 ...
mkdir -p "$BOTTLE_STATE_DIR"

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
record() { echo "$*" | tee -a "$OUT"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
name() { printf '%s-%03d' "$RUN" "$1"; }

# ours KIND: ids of the containers or networks of this run's state root.
ours() {
	local fmt='{{.ID}} {{.Label "dev.bottle.state"}}'
	if [ "$1" = networks ]; then
		docker network ls --filter label=dev.bottle.state --format "$fmt"
	else
		docker ps -a --filter label=dev.bottle.state --format "$fmt"
	fi | awk -v root="$BOTTLE_STATE_DIR/" 'index($2, root) == 1 {print $1}'
}

stop_all() {
	ls "$BOTTLE_STATE_DIR" 2>/dev/null | xargs -r -P "$BATCH" -I{} \
		"$BOTTLE" run stop slug={} purge=1 >>"$WORK/stop.log" 2>&1 || true
}

cleanup() {
	local code=$?
	trap - EXIT INT TERM
	if [ -n "$(ls "$BOTTLE_STATE_DIR" 2>/dev/null)" ]; then
		echo "scale.sh: stopping what is left ..." >&2
		stop_all
		"$BOTTLE" run cleanup purge=1 >>"$WORK/stop.log" 2>&1 || true
	fi
	local c n
	c=$(ours containers) n=$(ours networks)
	[ -n "$c" ] && docker rm -f $c >/dev/null 2>&1
	[ -n "$n" ] && docker network rm $n >/dev/null 2>&1
	rm -rf "$WORK"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start I: start bottle I, record its time; a failure stops the run.
start() {
	local t0 t1
	t0=$(now)
	if ! "$BOTTLE" run start name="$(name "$1")" >"$WORK/start-$1.log" 2>&1; then
		echo "scale.sh: start of bottle $1 failed:" >&2
		tail -5 "$WORK/start-$1.log" >&2
		return 1
	fi
	t1=$(now)
	echo "$1 $(ms "$t0" "$t1")" >>"$WORK/starts"
}
export -f start name now ms
export BOTTLE WORK RUN

used_kib() { awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END {print t-a}' /proc/meminfo; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pid_of() { pgrep -xo "$1" || echo 0; }

record "# bench/scale.sh N=$N BATCH=$BATCH $(date -u +%FT%TZ) $(nproc) cores, $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short 2>/dev/null || docker-compose version --short) (bottle takes the v2 plugin when there is one)"
record "# load before: $(cut -d' ' -f1-3 /proc/loadavg); other containers on the daemon: $(docker ps -q | wc -l), networks: $(docker network ls -q | wc -l)"
record "# busiest processes before: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s %s%%; ", $2, $1}')"

# busy_pct: the machine's CPU not idle over 10 s, in percent of all cores.
busy_pct() {
	local b0 i0 b1 i1
	read -r b0 i0 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
	sleep 10
	read -r b1 i1 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
	echo $(( 100 * (b1 - b0) / (b1 - b0 + i1 - i0) ))
}
record "# CPU busy before, over 10 s: $(busy_pct)% of $(nproc) cores"

# A bottle started and stopped first, so that the first timed start does
# not build the images.
"$BOTTLE" run start name="$RUN-warm" >"$WORK/warm.log" 2>&1
"$BOTTLE" run stop slug="$RUN-warm" purge=1 >>"$WORK/warm.log" 2>&1
sync
used0=$(used_kib) dockerd0=$(rss_kib "$(pid_of dockerd)") containerd0=$(rss_kib "$(pid_of containerd)")

checkpoints=""
for c in 1 50 100 150 200 "$N"; do
	[ "$c" -le "$N" ] && case " $checkpoints " in *" $c "*) ;; *) checkpoints="$checkpoints $c" ;; esac
done
i=1
t_all0=$(now)
for c in $checkpoints; do
	# up to c-3 in batches, then three alone (c-2, c-1, c), or fewer near 1.
	alone=$(( c < 3 ? c : 3 ))
	last_batch=$(( c - alone ))
	if [ "$i" -le "$last_batch" ]; then
		seq "$i" "$last_batch" | xargs -P "$BATCH" -I{} bash -c 'start {}'
		i=$(( last_batch + 1 ))
	fi
	times=""
	if [ "$c" = 1 ]; then # two more at n=1, each stopped before the next
		for k in 1 2; do
			start "$i"
			times="$times $(awk -v i="$i" '$1 == i {print $2}' "$WORK/starts")"
			"$BOTTLE" run stop slug="$(name "$i")" purge=1 >>"$WORK/stop.log" 2>&1
			sed -i "/^$i /d" "$WORK/starts"
		done
	fi
	while [ "$i" -le "$c" ]; do
		start "$i"
		times="$times $(awk -v i="$i" '$1 == i {print $2}' "$WORK/starts")"
		i=$(( i + 1 ))
	done
	record "start at n=$c: $(echo $times | tr ' ' '\n' | median) ms (alone:$times ms); load $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ "$c" = 50 ] && [ -n "$UI_TEST" ]; then
		# bottle ui over these 50 running bottles, in headless Chromium.
		BOTTLE_UI_BENCH_STATE=$BOTTLE_STATE_DIR "$UI_TEST" -test.run '^$' -test.bench BenchmarkUI \
			-test.benchtime 20x 2>&1 | grep -E '^Benchmark' | sed 's/^/ui at n=50: /' | tee -a "$OUT" || true
	fi
done
t_all1=$(now)
record "all $N started in $(( $(ms "$t_all0" "$t_all1") / 1000 )) s; mean per start in batches of $BATCH: $(awk '{s+=$2} END {printf "%d", s/NR}' "$WORK/starts") ms"

# bottle ls at N.
lst=""
for _ in 1 2 3 4 5; do
	t0=$(now)
	"$BOTTLE" ls >"$WORK/ls.txt"
	lst="$lst $(ms "$t0" "$(now)")"
done
running=$(grep -c " running " "$WORK/ls.txt" || true)
record "bottle ls at n=$N: $(echo $lst | tr ' ' '\n' | median) ms (runs:$lst ms); $running of $N listed running"
# The daemon's own part: the docker CLI's list of the same containers.
dps=""
for _ in 1 2 3 4 5; do
	t0=$(now)
	docker ps -a --filter label=dev.bottle.instance --format '{{.ID}}' >/dev/null
	dps="$dps $(ms "$t0" "$(now)")"
done
record "docker ps -a --filter label=dev.bottle.instance at n=$N: $(echo $dps | tr ' ' '\n' | median) ms (runs:$dps ms)"

# Memory, once the egresses have gone to rest (30 s after their last connection).
sleep 40
sync
record "CPU busy at rest with $N bottles up: $(busy_pct)% of $(nproc) cores over 10 s"
used1=$(used_kib) dockerd1=$(rss_kib "$(pid_of dockerd)") containerd1=$(rss_kib "$(pid_of containerd)")
record "host memory in use (MemTotal - MemAvailable): +$(( (used1 - used0) / 1024 )) MiB for $N bottles, $(( (used1 - used0) / N )) KiB a bottle"
record "dockerd RSS $(( dockerd0 / 1024 )) -> $(( dockerd1 / 1024 )) MiB, containerd RSS $(( containerd0 / 1024 )) -> $(( containerd1 / 1024 )) MiB"
egress_ids=$(docker ps --filter label=com.docker.compose.service=egress --filter "label=dev.bottle.state" --format '{{.ID}} {{.Label "dev.bottle.state"}}' |
	awk -v root="$BOTTLE_STATE_DIR/" 'index($2, root) == 1 {print $1}')
egress_rss=$(docker inspect -f '{{.State.Pid}}' $egress_ids | while read -r p; do rss_kib "$p"; done | sort -n)
record "egress VmRSS over $(echo "$egress_rss" | wc -l) egresses: median $(echo "$egress_rss" | median) KiB, max $(echo "$egress_rss" | tail -1) KiB"

# One bottle's processes: each container's shim and everything under it
# (runsc's gofer and sandbox for an agent under gVisor), by PSS so that pages
# they share count once.
pss_kib() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
tree() { # PID: it and its descendants
	ps -eo pid=,ppid= | awk -v root="$1" '{kids[$2] = kids[$2] " " $1} END {
		n = split(root, q, " "); for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] } }'
}
one=$(name 1)
for svc in agent egress; do
	id=$(docker ps -q --filter "label=dev.bottle.instance=$one" --filter "label=com.docker.compose.service=$svc")
	pid=$(docker inspect -f '{{.State.Pid}}' "$id")
	shim=$(awk '/^PPid:/{print $2}' "/proc/$pid/status")
	procs=$(tree "$shim")
	pss=0 rss=0
	for p in $procs; do pss=$(( pss + $(pss_kib "$p") )) rss=$(( rss + $(rss_kib "$p") )); done
	record "bottle $one $svc: $(echo $procs | wc -w) processes (shim and below: $(for p in $procs; do cat /proc/$p/comm 2>/dev/null; done | sort | uniq -c | awk '{printf "%s%s ", $2, ($1 > 1 ? "x" $1 : "")}')), PSS $(( pss / 1024 )) MiB, RSS $(( rss / 1024 )) MiB; the shim alone PSS $(( $(pss_kib "$shim") / 1024 )) MiB"
done

# Teardown.
t0=$(now)
stop_all
t1=$(now)
"$BOTTLE" run cleanup purge=1 >>"$WORK/stop.log" 2>&1
t2=$(now)
record "stop + purge of all $N in batches of $BATCH: $(( $(ms "$t0" "$t1") / 1000 )) s; cleanup after: $(ms "$t1" "$t2") ms"
left_c=$(ours containers | wc -l) left_n=$(ours networks | wc -l) left_d=$(ls "$BOTTLE_STATE_DIR" | wc -l)
record "leftovers: $left_c container(s), $left_n network(s), $left_d state dir(s)"
record "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$left_c$left_n$left_d" = 000 ]
