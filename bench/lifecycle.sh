#!/usr/bin/env bash
# bench/lifecycle.sh: the bottle lifecycle against the same steps done by
# hand with the docker and docker-compose CLIs, on this machine's daemon.
#
#   bench/lifecycle.sh [RUNS] [APPLIES]      (defaults: 5 bring-up/teardown runs, 30 applies)
#
# 1. bring-up and teardown of the default bottle (agent = bottle image running
#    `bottle idle`, egress = bottle image running `bottle egress`, two networks):
#      script: mkdir, CA (openssl), routes.yaml, compose file, 2 x docker network
#              create, docker-compose up -d, poll docker logs for the egress's
#              "loaded N route(s)", metadata.json
#              / docker-compose logs --timestamps > compose.log, down, 2 x network rm
#      bottle: bottle run recipes/start.star / recipes/stop.star
# 2. a live routes change, end to end (process start to reload confirmed):
#      bottle:  bottle run recipes/routes_apply.star add=/remove= (alternating)
#      by hand: rewrite routes.yaml in place, docker kill -s HUP, poll docker logs
#      restart: rewrite routes.yaml, docker restart [-t 0] the egress, poll docker logs
#
# Prints one line per measurement and a summary (median, p95) at the end; the
# raw lines go to bench/out/lifecycle-<time>.txt. Needs a daemon, docker-compose
# (v1) or docker compose (v2), openssl, and a static bottle ($BOTTLE, else built
# into bench/out/bottle).
#
# BOTTLE_BASELINE=/path/to/an/older/bottle adds a before/after comparison in
# the same run: each teardown iteration and each apply is done by the older
# binary too, interleaved (recorded as baseline_*), so both see the same load.
# The recipes are this tree's; the image is $BOTTLE's.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
APPLIES=${2:-30}
mkdir -p bench/out
OUT=bench/out/lifecycle-$(date +%Y%m%d-%H%M%S).txt
if [ -z "${BOTTLE:-}" ]; then
	CGO_ENABLED=0 go build -o bench/out/bottle ./cmd/bottle
	BOTTLE=$PWD/bench/out/bottle
fi
export BOTTLE_IMAGE_BINARY=$BOTTLE
if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi

WORK=$(mktemp -d /tmp/bottle-bench.XXXXXX)
export BOTTLE_STATE_DIR=$WORK/state
trap 'rm -rf "$WORK"' EXIT

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
record() { echo "$1 $2" | tee -a "$OUT"; }

# Both sides use the same image; make it once (bottle_image reuses it by digest).
printf 'image = bottle_image()\n' >"$WORK/img.star"
"$BOTTLE" run "$WORK/img.star" >/dev/null 2>&1
IMAGE=bottle:local

# wait_egress CONTAINER N SINCE: poll the logs until "egress: loaded N route(s)".
wait_egress() {
	local i
	for i in $(seq 1 3000); do
		if docker logs --since "$3" "$1" 2>&1 | grep -q "egress: loaded $2 route(s)"; then return 0; fi
		sleep 0.01
	done
	echo "timeout waiting for $1" >&2
	return 1
}

script_up() { # slug
	local s=$1 d=$WORK/script/$1
	mkdir -p -m 0700 "$d/live-config" "$d/ca"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj "/CN=bottle $s CA" -keyout "$d/ca/ca.key" -out "$d/ca/ca.crt" 2>/dev/null
	chmod 600 "$d/ca/ca.key"
	cat /etc/ssl/certs/ca-certificates.crt "$d/ca/ca.crt" >"$d/ca/bundle.pem"
	echo 'routes: []' >"$d/live-config/routes.yaml"
	cat >"$d/docker-compose.yml" <<EOF
services:
  agent:
    image: $IMAGE
    command: [idle]
    init: true
    networks: [internal]
    labels: {dev.bottle.instance: $s}
    environment:
      HTTP_PROXY: http://egress:3128
      HTTPS_PROXY: http://egress:3128
      SSL_CERT_FILE: /etc/bottle/ca-bundle.pem
      REQUESTS_CA_BUNDLE: /etc/bottle/ca-bundle.pem
      NODE_EXTRA_CA_CERTS: /etc/bottle/ca.crt
    volumes:
      - {type: bind, source: $d/ca/ca.crt, target: /etc/bottle/ca.crt, read_only: true}
      - {type: bind, source: $d/ca/bundle.pem, target: /etc/bottle/ca-bundle.pem, read_only: true}
    depends_on: [egress]
  egress:
    image: $IMAGE
    entrypoint: [/bottle, egress, --routes, /etc/bottle/routes.yaml, --listen, ":3128", --ca, /etc/bottle/ca]
    networks: [internal, external]
    labels: {dev.bottle.instance: $s}
    volumes:
      - {type: bind, source: $d/live-config/routes.yaml, target: /etc/bottle/routes.yaml, read_only: true}
      - {type: bind, source: $d/ca, target: /etc/bottle/ca, read_only: true}
networks:
  internal: {external: true, name: bottle-$s-int}
  external: {external: true, name: bottle-$s-ext}
EOF
	chmod 600 "$d/docker-compose.yml"
	local since
	since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	docker network create --internal --label dev.bottle.instance="$s" "bottle-$s-int" >/dev/null
	docker network create --label dev.bottle.instance="$s" "bottle-$s-ext" >/dev/null
	$COMPOSE -p "bottle-$s" -f "$d/docker-compose.yml" up -d >/dev/null 2>&1
	local egress
	egress=$(docker ps -q --filter label=com.docker.compose.project="bottle-$s" --filter label=com.docker.compose.service=egress)
	wait_egress "$egress" 0 "$since"
	echo "{\"slug\": \"$s\", \"status\": \"running\"}" >"$d/metadata.json"
}

script_down() { # slug
	local s=$1 d=$WORK/script/$1
	$COMPOSE -p "bottle-$s" -f "$d/docker-compose.yml" logs --no-color --timestamps >"$d/compose.log" 2>&1
	$COMPOSE -p "bottle-$s" -f "$d/docker-compose.yml" down --remove-orphans >/dev/null 2>&1
	docker network rm "bottle-$s-int" "bottle-$s-ext" >/dev/null
}

echo "# $(date -u) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -1)" | tee "$OUT"

for i in $(seq 1 "$RUNS"); do
	t0=$(now); script_up "bs$i"; t1=$(now); script_down "bs$i"; t2=$(now)
	record script_up_ms "$(ms "$t0" "$t1")"
	record script_down_ms "$(ms "$t1" "$t2")"
	t0=$(now); "$BOTTLE" run recipes/start.star name="bb$i" >/dev/null 2>&1; t1=$(now)
	"$BOTTLE" run recipes/stop.star slug="bb$i" purge=1 >/dev/null 2>&1; t2=$(now)
	record bottle_up_ms "$(ms "$t0" "$t1")"
	record bottle_down_ms "$(ms "$t1" "$t2")"
	if [ -n "${BOTTLE_BASELINE:-}" ]; then
		"$BOTTLE" run recipes/start.star name="bo$i" >/dev/null 2>&1
		t1=$(now); "$BOTTLE_BASELINE" run recipes/stop.star slug="bo$i" purge=1 >/dev/null 2>&1; t2=$(now)
		record baseline_down_ms "$(ms "$t1" "$t2")"
	fi
done

# Live routes changes on one running bottle.
"$BOTTLE" run recipes/start.star name=bapply >/dev/null 2>&1
ROUTES=$BOTTLE_STATE_DIR/bapply/live-config/routes.yaml
EGRESS=$(docker ps -q --filter label=dev.bottle.instance=bapply --filter label=dev.bottle.role=egress)
for i in $(seq 1 "$APPLIES"); do
	if [ $((i % 2)) = 1 ] || [ -n "${BOTTLE_BASELINE:-}" ]; then op=add; else op=remove; fi
	t0=$(now)
	"$BOTTLE" run recipes/routes_apply.star slug=bapply $op=bench.example.com >/dev/null 2>&1
	t1=$(now)
	record routes_apply_ms "$(ms "$t0" "$t1")"
	if [ -n "${BOTTLE_BASELINE:-}" ]; then
		t0=$(now) # the older binary takes the route out again
		"$BOTTLE_BASELINE" run recipes/routes_apply.star slug=bapply remove=bench.example.com >/dev/null 2>&1
		t1=$(now)
		record baseline_apply_ms "$(ms "$t0" "$t1")"
	fi
done
# By hand: write in place (same inode: truncate and write through >), SIGHUP, poll.
for i in $(seq 1 "$APPLIES"); do
	if [ $((i % 2)) = 1 ]; then n=1; printf 'routes:\n  - host: bench.example.com\n' >"$ROUTES"; else n=0; echo 'routes: []' >"$ROUTES"; fi
	since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	t0=$(now)
	docker kill -s HUP "$EGRESS" >/dev/null
	wait_egress "$EGRESS" "$n" "$since"
	t1=$(now)
	record hand_sighup_ms "$(ms "$t0" "$t1")"
done
for t in 10 0; do
	for i in $(seq 1 10); do
		if [ $((i % 2)) = 1 ]; then n=1; printf 'routes:\n  - host: bench.example.com\n' >"$ROUTES"; else n=0; echo 'routes: []' >"$ROUTES"; fi
		t0=$(now)
		since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
		docker restart -t "$t" "$EGRESS" >/dev/null
		wait_egress "$EGRESS" "$n" "$since"
		t1=$(now)
		record "restart_t${t}_ms" "$(ms "$t0" "$t1")"
	done
done
"$BOTTLE" run recipes/stop.star slug=bapply purge=1 >/dev/null 2>&1

echo "# summary: name runs median p95 (ms)" | tee -a "$OUT"
for name in script_up_ms bottle_up_ms script_down_ms bottle_down_ms baseline_down_ms routes_apply_ms baseline_apply_ms hand_sighup_ms restart_t10_ms restart_t0_ms; do
	{ grep "^$name " "$OUT" || true; } | awk '{print $2}' | sort -n | awk -v name="$name" '
		{ v[NR] = $1 }
		END { if (NR == 0) exit; p50 = v[int((NR + 1) / 2)]; i95 = int(NR * 0.95 + 0.999); if (i95 > NR) i95 = NR; printf "%s %d %d %d\n", name, NR, p50, v[i95] }'
done | tee -a "$OUT"
